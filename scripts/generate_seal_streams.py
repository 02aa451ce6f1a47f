#!/usr/bin/env python3
"""Record Microsoft SEAL streams both ways for the Swift tests (Tests/CKKSTests/Fixtures/seal_streams.json).

SEAL -> us: real SEAL (the `seal-python` wheel) writes a secret key, a public key, relinearization
and Galois keys, a plaintext and ciphertexts (public-key, symmetric, at a lower level, and the
size-3 product of two ciphertexts); SEAL's own decryptions and evaluations of them are recorded.
The Swift tests load every stream with the library and must reproduce those values.

us -> SEAL: the package's `ckks-reference-tool seal-streams` writes SEAL streams for SEAL's
secret key (public key, public-key ciphertext, seeded symmetric ciphertext, plaintext,
relinearization keys, Galois keys, the secret key itself), deterministically from a fixed seed.
Real SEAL loads every one of them and uses it (decrypts, encrypts with our public key,
relinearizes and rotates with our keys); the results and a BLAKE2b-256 digest of each stream
are recorded. The Swift tests regenerate the same streams and compare digests, so the bytes the
tests make are the bytes SEAL accepted. SEAL's full re-saves of our seeded ciphertext and seeded
public key are recorded too (as digests): they show SEAL expanded our seeds to the very
polynomials we used.

Needs the Swift toolchain and `pip install seal-python==4.4.0`. Deterministic except for SEAL's
own randomness (keys and SEAL's ciphertexts are fresh on each run; the tests only rely on
relationships between recorded values, never on SEAL's random bytes themselves).

    python3 scripts/generate_seal_streams.py
"""

import base64
import hashlib
import json
import os
import subprocess
import tempfile

import seal

ROOT = os.path.join(os.path.dirname(__file__), "..")
FIXTURE = os.path.join(ROOT, "Tests", "CKKSTests", "Fixtures", "seal_streams.json")
DEGREE = 1024
BIT_SIZES = [50, 30, 50]  # the last prime is SEAL's special (key) prime
SCALE_BITS = 30
ROTATION_STEPS = [1, -2]
SEED = bytes(range(40, 72))


def b64(data):
    return base64.b64encode(bytes(data)).decode()


def digest(data):
    return hashlib.blake2b(bytes(data), digest_size=32).hexdigest()


def message():
    """Slot values, exact in binary64, mirrored in the Swift tests."""
    return [((i * 7919) % 2001 - 1000) / 3700.0 for i in range(DEGREE // 2)]



def load_from_file(obj, context, blob):
    """seal-python loads keys only from a file path."""
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(bytes(blob))
    try:
        obj.load(context, f.name)
    finally:
        os.unlink(f.name)
    return obj


def main():
    parms = seal.EncryptionParameters(seal.scheme_type.ckks)
    parms.set_poly_modulus_degree(DEGREE)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(DEGREE, BIT_SIZES))
    context = seal.SEALContext(parms, True, seal.sec_level_type.none)
    keygen = seal.KeyGenerator(context)
    secret = keygen.secret_key()
    public = keygen.create_public_key()
    relin = keygen.create_relin_keys()
    galois = seal.GaloisKeys()
    keygen.create_galois_keys(ROTATION_STEPS, galois)
    encoder = seal.CKKSEncoder(context)
    encryptor = seal.Encryptor(context, public)
    encryptor.set_secret_key(secret)
    decryptor = seal.Decryptor(context, secret)
    evaluator = seal.Evaluator(context)
    values = message()
    scale = 2.0 ** SCALE_BITS

    def decode(ciphertext, count=16):
        return [float(v) for v in encoder.decode(decryptor.decrypt(ciphertext))[:count]]

    plain = encoder.encode(values, scale)
    ct_public = encryptor.encrypt(plain)
    ct_symmetric = encryptor.encrypt_symmetric(plain)
    ct_lower = encryptor.encrypt(plain)
    evaluator.mod_switch_to_next_inplace(ct_lower)
    ct_product = evaluator.multiply(ct_public, ct_symmetric)  # size 3, scale 2^40
    relinearized = evaluator.relinearize(ct_product, relin)
    evaluator.rescale_to_next_inplace(relinearized)
    rotated = {str(k): decode(evaluator.rotate_vector(ct_public, k, galois)) for k in ROTATION_STEPS}
    header = ct_public.to_string()[:8]
    seal_version = f"{header[3]}.{header[4]}"

    from_seal = {
        "secretKey": b64(secret.to_string()),
        "publicKey": b64(public.to_string()),
        "relinKeys": b64(relin.to_string()),
        "galoisKeys": b64(galois.to_string()),
        "plaintext": b64(plain.to_bytes()),
        "publicKeyCiphertext": b64(ct_public.to_string()),
        "symmetricCiphertext": b64(ct_symmetric.to_string()),
        "lowerLevelCiphertext": b64(ct_lower.to_string()),
        "productCiphertext": b64(ct_product.to_string()),
        "decoded": {
            "publicKeyCiphertext": decode(ct_public),
            "symmetricCiphertext": decode(ct_symmetric),
            "lowerLevelCiphertext": decode(ct_lower),
            "productRelinearizedRescaled": decode(relinearized),
        },
        "rotated": rotated,
    }

    # Our streams for SEAL's secret key, loaded and used by SEAL.
    subprocess.run(["swift", "build", "--product", "ckks-reference-tool"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    tool = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip() + "/ckks-reference-tool"
    request = {"degree": DEGREE, "bitSizes": BIT_SIZES, "scaleExponent": SCALE_BITS, "values": values,
               "secretKey": from_seal["secretKey"], "seed": SEED.hex(), "rotationSteps": ROTATION_STEPS}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(request, f)
    ours = json.loads(subprocess.run([tool, "seal-streams", f.name], check=True, capture_output=True,
                                     text=True).stdout)
    os.unlink(f.name)
    streams = {name: base64.b64decode(text) for name, text in ours.items()}

    our_public = load_from_file(seal.PublicKey(), context, streams["publicKey"])
    our_relin = load_from_file(seal.RelinKeys(), context, streams["relinKeys"])
    our_galois = load_from_file(seal.GaloisKeys(), context, streams["galoisKeys"])
    our_secret = load_from_file(seal.SecretKey(), context, streams["secretKey"])
    assert our_secret.to_string()[16:] == secret.to_string()[16:], "our secret-key stream is not SEAL's key"
    our_plain = seal.Plaintext()
    our_plain.load_bytes(context, streams["plaintext"])
    assert our_plain.to_bytes()[16:] == plain.to_bytes()[16:], "our plaintext differs from SEAL's encoding"
    ours_decoded = {}
    for name in ["publicKeyCiphertext", "seededCiphertext"]:
        loaded = seal.Ciphertext()
        loaded.load_bytes(context, streams[name])
        ours_decoded[name] = decode(loaded)
        if name == "seededCiphertext":
            seeded_resaved = digest(loaded.to_string()[16:])  # SEAL's full form of our seeded stream
    # SEAL encrypts with our public keys (full and seeded), relinearizes and rotates with our keys.
    with_our_key = seal.Encryptor(context, our_public).encrypt(plain)
    ours_decoded["sealEncryptedWithOurPublicKey"] = decode(with_our_key)
    our_seeded_public = load_from_file(seal.PublicKey(), context, streams["seededPublicKey"])
    ours_decoded["sealEncryptedWithOurSeededPublicKey"] = decode(seal.Encryptor(context, our_seeded_public).encrypt(plain))
    # SEAL's full re-save of our seeded public key: its expansion of our seed (digest compared in Swift).
    seeded_public_resaved = digest(our_seeded_public.to_string()[16:])
    product = evaluator.multiply(ct_public, ct_public)
    evaluator.relinearize_inplace(product, our_relin)
    evaluator.rescale_to_next_inplace(product)
    ours_decoded["sealSquaredRelinearizedWithOurKey"] = decode(product)
    our_rotations = {str(k): decode(evaluator.rotate_vector(ct_public, k, our_galois)) for k in ROTATION_STEPS}

    # What SEAL computed from our streams must be the message (squared, rotated), or the streams
    # are wrong: fail here rather than record a bad fixture.
    expected = message()
    for name, decoded in ours_decoded.items():
        want = [v * v for v in expected] if "Squared" in name else expected
        error = max(abs(a - b) for a, b in zip(decoded, want))
        assert error < 1e-3, f"SEAL decoded our {name} with error {error}"
    for k, decoded in our_rotations.items():
        want = [expected[(i + int(k)) % len(expected)] for i in range(len(decoded))]
        error = max(abs(a - b) for a, b in zip(decoded, want))
        assert error < 1e-3, f"SEAL rotated by {k} with our Galois keys: error {error}"

    payload = {
        "source": f"SEAL {seal_version} via seal-python; our streams from ckks-reference-tool seal-streams",
        "message": "slot i = ((i*7919) % 2001 - 1000) / 3700.0",
        "degree": DEGREE, "bitSizes": BIT_SIZES, "scaleExponent": SCALE_BITS, "rotationSteps": ROTATION_STEPS,
        "sealVersion": seal_version,
        "fromSeal": from_seal,
        "ours": {
            "seed": SEED.hex(),
            "digests": {name: digest(blob) for name, blob in streams.items()},
            "sealResavedSeededCiphertextDigest": seeded_resaved,
            "sealResavedSeededPublicKeyDigest": seeded_public_resaved,
            "decodedBySeal": ours_decoded,
            "rotatedBySealWithOurKeys": our_rotations,
        },
    }
    with open(FIXTURE, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {os.path.relpath(FIXTURE)} ({os.path.getsize(FIXTURE)} bytes)")


if __name__ == "__main__":
    main()
