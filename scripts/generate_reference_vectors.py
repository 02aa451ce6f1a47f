#!/usr/bin/env python3
"""Record reference vectors from independent implementations for the Swift tests.

Sources:
  * Microsoft SEAL through the `seal-python` wheel (prime chains, NTT form), with prime
    chains cross-checked against the SEAL build inside `tenseal`;
  * Python's exact big integers (CRT reconstruction, rescale, fast basis conversion,
    the seeded uniform expansion rule);
  * ChaCha20 from the `cryptography` package (OpenSSL) for the keystream.

Writes JSON files into Tests/CKKSTests/Fixtures/. The Swift tests read only those files and
need neither Python nor the network. The interoperability part builds and runs the package's
`ckks-reference-tool` (so it needs the Swift toolchain). Regenerate with:

    pip install seal-python tenseal cryptography
    python3 scripts/generate_reference_vectors.py

The output is deterministic (fixed seeds), so regenerating gives identical files unless an
upstream library changes behaviour, which is exactly what a diff would then show.
"""

import json
import os
import random
import struct
import sys

import seal

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "Tests", "CKKSTests", "Fixtures")
MASK61 = (1 << 61) - 1


def write(name, payload):
    path = os.path.join(FIXTURES, name)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def seal_version_bytes():
    """SEAL's serialization header carries its major and minor version."""
    p = seal.EncryptionParameters(seal.scheme_type.ckks)
    p.set_poly_modulus_degree(16)
    p.set_coeff_modulus(seal.CoeffModulus.Create(16, [30, 30]))
    ctx = seal.SEALContext(p, True, seal.sec_level_type.none)
    kg = seal.KeyGenerator(ctx)
    ct = seal.Encryptor(ctx, kg.create_public_key()).encrypt(seal.CKKSEncoder(ctx).encode([0.0], 2.0**10))
    header = ct.to_string()[:8]
    return f"{header[3]}.{header[4]}"


def digest(values):
    """Polynomial hash sum(v_j * 3^j) mod (2^61 - 1), mirrored in the Swift tests."""
    h = 0
    for v in reversed(values):
        h = (h * 3 + v) % MASK61
    return h


# ---------------------------------------------------------------------------------------------
# Prime chains (SEAL CoeffModulus::Create)

PRIME_CASES = [
    (16, [20, 20, 30]),
    (1024, [27]),
    (2048, [54]),
    (4096, [36, 36, 37]),
    (4096, [40, 20, 40]),
    (8192, [60, 40, 40, 60]),
    (8192, [43, 43, 44, 44, 44]),
    (16384, [60, 40, 40, 40, 40, 40, 40, 60]),
    (16384, [60, 30, 30, 60]),
    (32768, [60, 50, 50, 50, 50, 50, 50, 50, 50, 50, 60]),
]


def record_primes():
    try:
        import tenseal.sealapi as tenseal_seal
    except ImportError:  # the cross-check is optional
        tenseal_seal = None
    cases = []
    for degree, bits in PRIME_CASES:
        primes = [m.value() for m in seal.CoeffModulus.Create(degree, bits)]
        if tenseal_seal is not None:
            other = [m.value() for m in tenseal_seal.CoeffModulus.Create(degree, bits)]
            assert other == primes, f"seal-python and tenseal disagree for {degree} {bits}"
        cases.append({"degree": degree, "bitSizes": bits, "primes": primes})
    write("seal_primes.json", {"source": f"SEAL {seal_version_bytes()} via seal-python", "cases": cases})


# ---------------------------------------------------------------------------------------------
# NTT form (SEAL Evaluator::transform_to_ntt on a coefficient-form ciphertext)

def input_coefficient(i, j, q):
    """Deterministic test polynomial, mirrored in the Swift tests."""
    return (j * j * 31337 + j * 7 + 11 * (i + 1)) % q


def seal_ntt(degree, primes):
    """SEAL's NTT form of input_coefficient(i, j, q_i), one row per prime."""
    special = next(m.value() for m in seal.CoeffModulus.Create(degree, [60, 60, 60]) if m.value() not in primes)
    parms = seal.EncryptionParameters(seal.scheme_type.ckks)
    parms.set_poly_modulus_degree(degree)
    parms.set_coeff_modulus([seal.Modulus(q) for q in primes + [special]])
    ctx = seal.SEALContext(parms, True, seal.sec_level_type.none)
    keygen = seal.KeyGenerator(ctx)
    encryptor = seal.Encryptor(ctx, keygen.create_public_key())
    ct = encryptor.encrypt(seal.CKKSEncoder(ctx).encode([0.0], 2.0))
    blob = bytearray(ct.to_string())
    # Ciphertext layout after the 16-byte header: parms_id (32), is_ntt_form (1), size,
    # poly_modulus_degree, coeff_modulus_size (u64 each), scale (f64), correction factor (u64),
    # then a DynArray: 16-byte header, u64 count, residues (poly -> prime -> coefficient).
    size, n, count = struct.unpack_from("<QQQ", blob, 49)
    assert (size, n, count) == (2, degree, len(primes))
    values = [input_coefficient(i, j, q) for _ in range(2) for i, q in enumerate(primes) for j in range(degree)]
    blob[48] = 0
    struct.pack_into(f"<{len(values)}Q", blob, 113, *values)
    loaded = seal.Ciphertext()
    loaded.load_bytes(ctx, bytes(blob))
    seal.Evaluator(ctx).transform_to_ntt_inplace(loaded)
    out = loaded.to_string()
    assert out[48] == 1
    flat = struct.unpack_from(f"<{len(primes) * degree}Q", out, 113)
    return [list(flat[i * degree:(i + 1) * degree]) for i in range(len(primes))]


NTT_CASES = [
    (8, [17]),  # smallest: q = 17 ≡ 1 mod 16
    (16, [20, 30]),
    (1024, [27]),
    (4096, [60, 50]),
    (8192, [60, 40, 40, 60]),
    (16384, [60, 55]),
    (32768, [60]),
]
FULL_VECTOR_LIMIT = 1024


def record_ntt():
    cases = []
    for degree, spec in NTT_CASES:
        if spec == [17]:
            primes = [17]
        else:
            primes = [m.value() for m in seal.CoeffModulus.Create(degree, spec)]
        rows = seal_ntt(degree, primes)
        case = {"degree": degree, "primes": primes}
        if degree <= FULL_VECTOR_LIMIT:
            case["ntt"] = rows
        else:
            case["nttDigests"] = [digest(row) for row in rows]
            case["nttHeads"] = [row[:8] for row in rows]
        cases.append(case)
    write("seal_ntt.json", {
        "source": f"SEAL {seal_version_bytes()} via seal-python, Evaluator.transform_to_ntt_inplace",
        "input": "coefficient j modulo prime i = (j*j*31337 + j*7 + 11*(i+1)) mod q_i",
        "digest": "sum(v_j * 3^j) mod (2^61 - 1)",
        "cases": cases,
    })


# ---------------------------------------------------------------------------------------------
# Exact big-integer results: CRT, rescale, fast basis conversion

def crt(residues, primes):
    q_total = 1
    for q in primes:
        q_total *= q
    x = 0
    for r, q in zip(residues, primes):
        complement = q_total // q
        x += r * complement * pow(complement, -1, q)
    return x % q_total, q_total


def centered(x, modulus):
    return x - modulus if 2 * x > modulus else x


def round_div(x, d):
    """round(x / d) to nearest for odd d (no ties), exact for negative x."""
    return (2 * x + d) // (2 * d)


def record_exact():
    rng = random.Random(20261125)
    cases = []
    for degree, bits, target_bits in [(16, [60, 40, 40, 60], [61, 60]), (32, [50, 50, 61], [55, 61])]:
        all_primes = [m.value() for m in seal.CoeffModulus.Create(degree, bits + target_bits)] if max(bits + target_bits) <= 60 else None
        if all_primes is None:
            # SEAL caps bit sizes at 60; draw the 61-bit primes the same way in Python.
            all_primes = python_seal_create(degree, bits + target_bits)
        primes = all_primes[: len(bits)]
        targets = all_primes[len(bits):]
        q_total = 1
        for q in primes:
            q_total *= q
        # Values: random in [0, Q) plus edge cases around 0 and ±Q/2.
        values = [rng.randrange(q_total) for _ in range(degree - 4)]
        values += [0, 1, q_total - 1, q_total // 2]
        residues = [[v % q for v in values] for q in primes]
        centered_values = [centered(v, q_total) for v in values]
        last = primes[-1]
        lower = q_total // last
        rescaled = [round_div(c, last) % lower for c in centered_values]
        rescaled_residues = [[r % q for r in rescaled] for q in primes[:-1]]
        # Fast basis conversion exactly as defined: sum_i [x_i * (Q/q_i)^-1]_{q_i} * (Q/q_i).
        converted = []
        for p in targets:
            row = []
            for v in values:
                s = 0
                for q in primes:
                    complement = q_total // q
                    s += ((v % q) * pow(complement, -1, q) % q) * complement
                row.append(s % p)
            converted.append(row)
        overflow = []
        for v in values:
            s = sum(((v % q) * pow(q_total // q, -1, q) % q) * (q_total // q) for q in primes)
            overflow.append((s - v) // q_total)
        cases.append({
            "degree": degree,
            "primes": primes,
            "targetPrimes": targets,
            "residues": residues,
            "centered": [str(c) for c in centered_values],
            "rescaledResidues": rescaled_residues,
            "convertedResidues": converted,
            "conversionOverflow": overflow,
        })
    write("exact_integers.json", {"source": "Python big integers", "cases": cases})


def is_prime(n):
    if n < 2:
        return False
    for p in [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def python_seal_create(degree, bits):
    """SEAL's CoeffModulus::Create rule in Python (used only beyond SEAL's 60-bit cap)."""
    factor = 2 * degree
    pool = {}
    for size in set(bits):
        wanted = bits.count(size)
        value = ((1 << size) - 1) // factor * factor + 1
        found = []
        while len(found) < wanted and value > (1 << (size - 1)):
            if is_prime(value):
                found.append(value)
            value -= factor
        pool[size] = found
    return [pool[size].pop() for size in bits]


# ---------------------------------------------------------------------------------------------
# ChaCha20 keystream and the seeded uniform expansion

def record_chacha():
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    def keystream(key, nonce, counter, length):
        full_nonce = struct.pack("<I", counter) + nonce
        encryptor = Cipher(algorithms.ChaCha20(key, full_nonce), mode=None).encryptor()
        return encryptor.update(b"\0" * length)

    rfc_key = bytes(range(32))
    rfc_nonce = bytes.fromhex("000000090000004a00000000")
    seed = bytes((7 * i + 3) % 256 for i in range(32))
    domain = b"CKKS-uniform"
    stream = keystream(seed, domain, 0, 64 * 64)
    words = [struct.unpack_from("<Q", stream, 8 * k)[0] for k in range(len(stream) // 8)]
    primes = python_seal_create(16, [60, 40, 61])
    # Lemire's method, limb by limb, coefficient by coefficient.
    uniform = []
    position = 0
    for q in primes:
        row = []
        for _ in range(16):
            while True:
                product = words[position] * q
                position += 1
                low = product & ((1 << 64) - 1)
                if low >= (1 << 64) % q:
                    row.append(product >> 64)
                    break
        uniform.append(row)
    write("chacha20.json", {
        "source": "cryptography (OpenSSL) ChaCha20",
        "rfc8439Block": {
            "key": rfc_key.hex(), "nonce": rfc_nonce.hex(), "counter": 1,
            "keystream": keystream(rfc_key, rfc_nonce, 1, 64).hex(),
        },
        "longStream": {
            "key": seed.hex(), "nonce": domain.hex(), "counter": 0,
            "keystream": stream.hex(),
        },
        "seededUniform": {"seed": seed.hex(), "degree": 16, "primes": primes, "residues": uniform},
    })


# ---------------------------------------------------------------------------------------------
# BLAKE2b and SEAL's parms_id (BLAKE2b-256 of [scheme, N, primes..., plain modulus])

def record_fingerprints():
    import hashlib

    messages = [b"", b"abc", bytes(range(200)), bytes(128), bytes(129)]
    blake = [
        {"message": m.hex(), "digestLength": length, "digest": hashlib.blake2b(m, digest_size=length).hexdigest()}
        for m in messages for length in (32, 64)
    ]
    chains = []
    for degree, bits in [(8192, [60, 40, 40, 60]), (16384, [60] + [40] * 6 + [60]),
                         (16384, [60] + [40] * 6 + [60, 60]), (4096, [60, 46]), (1024, [26])]:
        parms = seal.EncryptionParameters(seal.scheme_type.ckks)
        parms.set_poly_modulus_degree(degree)
        parms.set_coeff_modulus(seal.CoeffModulus.Create(degree, bits))
        context = seal.SEALContext(parms, True, seal.sec_level_type.none)
        levels = []
        data = context.key_context_data()
        while data is not None:
            levels.append({
                "primes": [m.value() for m in data.parms().coeff_modulus()],
                "parmsId": [int(w) for w in data.parms_id()],
            })
            data = data.next_context_data()
        chains.append({"degree": degree, "bitSizes": bits, "levels": levels})
    write("fingerprints.json", {
        "source": f"hashlib.blake2b; SEAL {seal_version_bytes()} parms_id via seal-python",
        "blake2b": blake,
        "sealChains": chains,
    })


# ---------------------------------------------------------------------------------------------
# CKKS encoder (SEAL CKKSEncoder::encode, NTT form)

def encoder_input(i, imaginary=False):
    """Deterministic slot values, exact in binary64 in every language; mirrored in the Swift tests."""
    if imaginary:
        return ((i * 104729) % 3001 - 1500) / 53.0
    return ((i * 7919) % 2001 - 1000) / 37.0


def plaintext_rows(plain, degree):
    blob = plain.to_bytes()
    # Plaintext layout after the 16-byte header: parms_id (32), coeff_count (u64), scale (f64),
    # then a DynArray: 16-byte header, u64 count, residues (prime -> coefficient).
    count = struct.unpack_from("<Q", blob, 16 + 32 + 16 + 16)[0]
    flat = struct.unpack_from(f"<{count}Q", blob, 16 + 32 + 16 + 16 + 8)
    return [list(flat[k:k + degree]) for k in range(0, count, degree)]


def record_encoder():
    cases = []
    specs = [
        # degree, bit sizes (last = special), scale exponent, value count, complex?, level drop
        (16, [30, 30, 30], 20, 8, False, 0),
        (16, [30, 30, 30], 20, 3, True, 0),
        (8192, [60, 40, 40, 60], 40, 4096, False, 0),
        (8192, [60, 40, 40, 60], 40, 4096, True, 0),
        (8192, [60, 40, 40, 60], 40, 10, False, 0),
        (8192, [60, 40, 40, 60], 30, 4096, False, 1),
        (8192, [60, 40, 40, 60], 80, 4096, False, 0),
        (16384, [60] + [40] * 6 + [60], 40, 8192, True, 0),
    ]
    for degree, bits, scale_bits, count, is_complex, drop in specs:
        parms = seal.EncryptionParameters(seal.scheme_type.ckks)
        parms.set_poly_modulus_degree(degree)
        parms.set_coeff_modulus(seal.CoeffModulus.Create(degree, bits))
        context = seal.SEALContext(parms, True, seal.sec_level_type.none)
        encoder = seal.CKKSEncoder(context)
        data = context.first_context_data()
        scale = 2.0 ** scale_bits
        if is_complex:
            values = [complex(encoder_input(i), encoder_input(i, True)) for i in range(count)]
            plain = encoder.encode_complex(values, scale)
        else:
            values = [encoder_input(i) for i in range(count)]
            plain = encoder.encode(values, scale)
        # seal-python encodes at the top data level; encoding at a lower level gives the same
        # integers over fewer primes, i.e. the first rows.
        rows = plaintext_rows(plain, degree)
        rows = rows[: len(rows) - drop]
        primes = [m.value() for m in data.parms().coeff_modulus()][: len(rows)]
        case = {"degree": degree, "bitSizes": bits, "level": len(rows) - 1, "primes": primes,
                "scaleExponent": scale_bits, "valueCount": count, "complex": is_complex}
        if degree <= 16:
            case["ntt"] = rows
        else:
            case["nttDigests"] = [digest(row) for row in rows]
            case["nttHeads"] = [row[:8] for row in rows]
        cases.append(case)
    write("seal_encoder.json", {
        "source": f"SEAL {seal_version_bytes()} CKKSEncoder via seal-python",
        "input": "slot i = ((i*7919) % 2001 - 1000) / 37.0, imaginary part ((i*104729) % 3001 - 1500) / 53.0",
        "cases": cases,
    })


# ---------------------------------------------------------------------------------------------
# Interoperability: SEAL ciphertexts decrypt with our decryptor, ours decrypt with SEAL.

def words_to_b64(words):
    import base64
    return base64.b64encode(struct.pack(f"<{len(words)}Q", *words)).decode()


def b64_to_words(text):
    import base64
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 8}Q", raw))


def seal_ciphertext_words(ciphertext):
    blob = ciphertext.to_string()
    size, degree, count = struct.unpack_from("<QQQ", blob, 49)
    total = struct.unpack_from("<Q", blob, 105)[0]
    assert total == size * degree * count
    return list(struct.unpack_from(f"<{total}Q", blob, 113)), struct.unpack_from("<d", blob, 73)[0]


ROTATION_STEPS = [1, -1, 5, 100]


def record_interop():
    import json as json_module
    import subprocess
    import tempfile

    root = os.path.join(os.path.dirname(__file__), "..")
    subprocess.run(["swift", "build", "-c", "release", "--product", "ckks-reference-tool"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    tool = os.path.join(root, ".build", "release", "ckks-reference-tool")
    cases = []
    for degree, bits, scale_bits in [(1024, [40, 30, 40], 25), (2048, [50, 40, 50], 35)]:
        parms = seal.EncryptionParameters(seal.scheme_type.ckks)
        parms.set_poly_modulus_degree(degree)
        parms.set_coeff_modulus(seal.CoeffModulus.Create(degree, bits))
        context = seal.SEALContext(parms, True, seal.sec_level_type.none)
        keygen = seal.KeyGenerator(context)
        secret = keygen.secret_key()
        sk_blob = secret.to_string()
        sk_count = struct.unpack_from("<Q", sk_blob, 64 + 16)[0]
        sk_words = list(struct.unpack_from(f"<{sk_count}Q", sk_blob, 64 + 16 + 8))
        encoder = seal.CKKSEncoder(context)
        values = [encoder_input(i) / 10 for i in range(degree // 2)]
        scale = 2.0 ** scale_bits
        seal_ct = seal.Encryptor(context, keygen.create_public_key()).encrypt(encoder.encode(values, scale))
        seal_words, seal_scale = seal_ciphertext_words(seal_ct)
        decryptor = seal.Decryptor(context, secret)

        # Our ciphertexts for the same key and message, made deterministically by the Swift tool.
        seed = bytes(range(100, 132))
        request = {"degree": degree, "bitSizes": bits, "scaleExponent": scale_bits, "values": values,
                   "secretKey": words_to_b64(sk_words), "seed": seed.hex()}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json_module.dump(request, f)
        ours = json_module.loads(subprocess.run([tool, f.name], check=True, capture_output=True, text=True).stdout)
        os.unlink(f.name)
        decrypted_by_seal = {}
        digests = {}
        for kind, ciphertext in ours.items():
            words = b64_to_words(ciphertext["residues"])
            blob = bytearray(seal_ct.to_string())
            struct.pack_into("<d", blob, 73, ciphertext["scale"])
            struct.pack_into(f"<{len(words)}Q", blob, 113, *words)
            loaded = seal.Ciphertext()
            loaded.load_bytes(context, bytes(blob))
            decoded = encoder.decode(decryptor.decrypt(loaded))
            digests[kind] = digest(words)
            error = max(abs(a - b) for a, b in zip(decoded, values))
            assert error < 1e-3, f"SEAL failed to decrypt our {kind}: error {error}"
            decrypted_by_seal[kind] = {"head": [float(x) for x in decoded[:32]], "maxError": error}
        # SEAL's own rotations of its ciphertext, decoded (the first 32 slots), to pin down what
        # "rotate by k" means.
        galois = seal.GaloisKeys()
        keygen.create_galois_keys(ROTATION_STEPS, galois)
        evaluator = seal.Evaluator(context)
        seal_rotations = {
            str(k): [float(v) for v in encoder.decode(decryptor.decrypt(evaluator.rotate_vector(seal_ct, k, galois)))[:32]]
            for k in ROTATION_STEPS
        }
        cases.append({
            "sealRotationsHead": seal_rotations,
            "degree": degree, "bitSizes": bits, "scaleExponent": scale_bits,
            "secretKey": words_to_b64(sk_words),
            "sealCiphertext": {"residues": words_to_b64(seal_words), "scale": seal_scale},
            "sealDecodedHead": [float(x) for x in encoder.decode(decryptor.decrypt(seal_ct))[:32]],
            "ourSeed": seed.hex(),
            "ourCiphertextDigests": digests,
            "sealDecodedOurs": decrypted_by_seal,
        })
    write("seal_interop.json", {
        "source": f"SEAL {seal_version_bytes()} via seal-python; our ciphertexts from ckks-reference-tool",
        "message": "slot i = (((i*7919) % 2001 - 1000) / 37.0) / 10",
        "cases": cases,
    })


PARTS = {
    "primes": lambda: record_primes(),
    "ntt": lambda: record_ntt(),
    "exact": lambda: record_exact(),
    "chacha": lambda: record_chacha(),
    "fingerprints": lambda: record_fingerprints(),
    "encoder": lambda: record_encoder(),
    "interop": lambda: record_interop(),
}

if __name__ == "__main__":
    # With arguments, only the named parts are recorded (e.g. `fingerprints`); all by default.
    os.makedirs(FIXTURES, exist_ok=True)
    chosen = sys.argv[1:] or list(PARTS)
    unknown = [name for name in chosen if name not in PARTS]
    if unknown:
        sys.exit(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    for name in chosen:
        PARTS[name]()
    sys.exit(0)
