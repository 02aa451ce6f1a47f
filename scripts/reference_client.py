#!/usr/bin/env python3
"""A client of the reference gateway's v1 contract, written from that contract's facts only
(../shared/reference/seed-contract.md in the project's reference material; schemas/reference-v1
here), with a real Microsoft SEAL behind it. It does what the reference's own Python client does:

  discover (GET /models, validated with closed JSON Schemas: no extra field anywhere), build the
  CKKS context from the published poly_modulus_degree, coeff_modulus_bits and scale only, make a
  fresh key pair, encrypt each feature column with the public key (sample j in slot j) at the
  published scale, serialize with compression off, submit lowercase hex (POST /infer), poll
  GET /jobs/{id} every 1.0 s while queued/running/pending (60 s timeout), load the hex result
  with its own SEAL and decrypt, keeping the first batch_size slots.

Backends: `pyfhel` (Pyfhel 3.5.0, SEAL 4.1.2 inside, the reference's own stack) and
`seal-python` (the seal-python wheel, a newer SEAL 4.x). Every decrypted value is checked against
the plain formula 0.5 + 0.197 * (w . x + b) computed from the published parameters, and against
POST /infer/plain. Exit status 0 only if every check passes.

    python3 scripts/reference_client.py --url http://127.0.0.1:8080/reference --backend pyfhel
"""

import argparse
import json
import random
import struct
import sys
import time

import jsonschema
import numpy as np
import requests

TOLERANCE = 1e-4  # absolute, per decrypted value; the reference reports a mean error of 2.30e-6

# The reference client's discovery schema, restated from the contract's facts: every object closed.
NUMBER_ARRAY = {"type": "array", "items": {"type": "number"}}
MODEL_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["model_id", "version", "description", "he_scheme", "encryption_parameters", "inference",
                 "parameters", "activation_parameters", "constraints"],
    "properties": {
        "model_id": {"type": "string"}, "version": {"type": "string"}, "description": {"type": "string"},
        "he_scheme": {"const": "CKKS"},
        "encryption_parameters": {
            "type": "object", "additionalProperties": False,
            "required": ["poly_modulus_degree", "scale", "coeff_modulus_bits", "max_multiplicative_depth"],
            "properties": {"poly_modulus_degree": {"type": "integer"}, "scale": {"type": "number"},
                           "coeff_modulus_bits": {"type": "array", "items": {"type": "integer"}},
                           "max_multiplicative_depth": {"type": "integer"}}},
        "inference": {
            "type": "object", "additionalProperties": False,
            "required": ["input_dimension", "output_dimension", "activation"],
            "properties": {"input_dimension": {"type": "integer"}, "output_dimension": {"type": "integer"},
                           "activation": {"const": "polynomial_sigmoid_v1"}}},
        "parameters": {"type": "object", "additionalProperties": False, "required": ["weights", "bias"],
                       "properties": {"weights": NUMBER_ARRAY, "bias": {"type": "number"}}},
        "activation_parameters": {
            "type": "object", "additionalProperties": False, "required": ["kind", "coefficients"],
            "properties": {"kind": {"const": "polynomial_sigmoid_v1"},
                           "coefficients": {**NUMBER_ARRAY, "minItems": 3, "maxItems": 3}}},
        "constraints": {"type": "object", "additionalProperties": False, "required": ["max_batch_size"],
                        "properties": {"max_batch_size": {"type": "integer", "minimum": 1}}},
    },
}
DISCOVERY_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["api_version", "models"],
                    "properties": {"api_version": {"type": "string"},
                                   "models": {"type": "array", "items": MODEL_SCHEMA}}}
RESULT_SCHEMA = {
    "type": "object", "required": ["model_id", "version", "payload"],
    "properties": {"model_id": {"type": "string"}, "version": {"type": "string"}, "payload": {"type": "string"},
                   "diagnostics": {"type": "object",
                                   "required": ["requested_batch_size", "processed_batch_size", "batch_truncated"],
                                   "properties": {"requested_batch_size": {"type": "integer", "minimum": 1},
                                                  "processed_batch_size": {"type": "integer", "minimum": 1},
                                                  "batch_truncated": {"type": "boolean"}}}},
}


class PyfhelBackend:
    """The reference's stack: Pyfhel 3.5.0 (SEAL 4.1.2)."""

    name = "Pyfhel"

    def __init__(self, degree, bits, scale):
        from Pyfhel import Pyfhel, PyCtxt
        self.PyCtxt = PyCtxt
        self.he = Pyfhel()
        self.he.contextGen(scheme="ckks", n=degree, scale=scale, qi_sizes=bits, sec=128)
        self.he.keyGen()

    def encrypt(self, column):
        return self.he.encryptFrac(np.array(column, dtype=np.float64)).to_bytes()

    def decrypt(self, stream):
        return list(self.he.decryptFrac(self.PyCtxt(pyfhel=self.he, bytestring=stream)))

    def loads(self, stream):
        try:
            self.PyCtxt(pyfhel=self.he, bytestring=stream)
            return True
        except Exception:
            return False


class SealPythonBackend:
    """The seal-python wheel (a newer SEAL 4.x)."""

    name = "SEAL-Python"

    def __init__(self, degree, bits, scale):
        import seal
        self.seal = seal
        parms = seal.EncryptionParameters(seal.scheme_type.ckks)
        parms.set_poly_modulus_degree(degree)
        parms.set_coeff_modulus(seal.CoeffModulus.Create(degree, bits))
        self.context = seal.SEALContext(parms, True, seal.sec_level_type.tc128)
        keygen = seal.KeyGenerator(self.context)
        self.encryptor = seal.Encryptor(self.context, keygen.create_public_key())
        self.decryptor = seal.Decryptor(self.context, keygen.secret_key())
        self.encoder = seal.CKKSEncoder(self.context)
        self.scale = scale

    def encrypt(self, column):
        return self.encryptor.encrypt(self.encoder.encode(list(column), self.scale)).to_string()

    def decrypt(self, stream):
        ciphertext = self.seal.Ciphertext()
        ciphertext.load_bytes(self.context, stream)
        return list(self.encoder.decode(self.decryptor.decrypt(ciphertext)))

    def loads(self, stream):
        try:
            self.seal.Ciphertext().load_bytes(self.context, stream)
            return True
        except Exception:
            return False


BACKENDS = {"pyfhel": PyfhelBackend, "seal-python": SealPythonBackend}


def header_version(stream):
    magic, header_size, major, minor = struct.unpack_from("<HBBB", stream, 0)
    assert magic == 0xA15E and header_size == 16, "not a SEAL stream"
    return f"{major}.{minor}"


class Client:
    def __init__(self, url, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def call(self, method, path, **kwargs):
        response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response.json()

    def wait(self, job_id):
        deadline = time.monotonic() + 60
        while True:
            job = self.call("GET", f"/jobs/{job_id}")
            if job["status"] in ("queued", "running", "pending"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {job_id} did not finish in 60 s")
                time.sleep(1.0)
                continue
            if job["status"] == "failed":
                raise RuntimeError(f"job {job_id} failed: {job.get('error') or job.get('message')}")
            if job["status"] != "completed":
                raise RuntimeError(f"job {job_id}: unknown status {job['status']}")
            jsonschema.validate(job["result"], RESULT_SCHEMA)
            return job["result"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the contract's base URL, e.g. http://127.0.0.1:8080/reference")
    parser.add_argument("--backend", choices=sorted(BACKENDS), required=True)
    parser.add_argument("--batches", default="1,2,5,16", help="batch sizes to run, comma-separated")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per HTTP call (the reference's: 5)")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--runs", type=int, default=1, help="repetitions of each batch (timings are means)")
    parser.add_argument("--json", help="write the batch-1 stage timings (means) and errors to this file")
    parser.add_argument("--warmup", type=int, default=0, help="leading batch-1 runs left out of the --json means")
    arguments = parser.parse_args()

    client = Client(arguments.url, arguments.timeout)
    assert client.call("GET", "/health") == {"status": "ok"}
    discovery = client.call("GET", "/models")
    jsonschema.Draft202012Validator(DISCOVERY_SCHEMA).validate(discovery)
    model = next(m for m in discovery["models"] if m["model_id"] == "logistic_v1")
    encryption = model["encryption_parameters"]
    degree, bits, scale = encryption["poly_modulus_degree"], encryption["coeff_modulus_bits"], encryption["scale"]
    weights, bias = model["parameters"]["weights"], model["parameters"]["bias"]
    c0, c1, c2 = model["activation_parameters"]["coefficients"]
    dimension = model["inference"]["input_dimension"]

    def formula(sample):
        z = sum(w * x for w, x in zip(weights, sample)) + bias
        return c0 + c1 * z + c2 * z * z

    backend = BACKENDS[arguments.backend](degree, bits, scale)
    rng = random.Random(arguments.seed)
    errors = []
    results = []
    for batch in [int(b) for b in arguments.batches.split(",") for _ in range(arguments.runs)]:
        assert batch <= model["constraints"]["max_batch_size"]
        samples = [[0.1 * (i + 1) for i in range(dimension)]] if batch == 1 else \
            [[rng.uniform(-1, 1) for _ in range(dimension)] for _ in range(batch)]
        started = time.perf_counter()
        streams = [backend.encrypt([s[i] for s in samples]) for i in range(dimension)]
        encrypted = time.perf_counter()
        body = {"model_id": model["model_id"], "version": model["version"], "batch_size": batch,
                "inputs": [{"encoding": "hex", "payload": s.hex()} for s in streams]}
        request = json.dumps(body)
        serialized = time.perf_counter()
        answer = client.call("POST", "/infer", data=request, headers={"content-type": "application/json"})
        submitted = time.perf_counter()
        assert answer["status"] in ("completed", "queued", "running", "pending", "failed"), answer
        assert len(answer["job_id"]) == 32 and int(answer["job_id"], 16) >= 0
        result = client.wait(answer["job_id"])
        fetched = time.perf_counter()
        stream = bytes.fromhex(result["payload"])
        assert header_version(stream) == header_version(streams[0]), "the result's SEAL version is not the client's"
        values = backend.decrypt(stream)[:batch]
        decrypted = time.perf_counter()
        for sample, value in zip(samples, values):
            plain = client.call("POST", "/infer/plain", json={
                "model_id": model["model_id"], "version": model["version"], "inputs": sample})["outputs"][0]
            expected = formula(sample)
            assert abs(plain - expected) < 1e-12, f"plain route {plain} != formula {expected}"
            errors.append(abs(value - expected))
        diagnostics = result.get("diagnostics", {})
        assert diagnostics.get("requested_batch_size") == batch and not diagnostics.get("batch_truncated")
        results.append({"batch": batch, "request_bytes": len(request), "encrypt_ms": 1e3 * (encrypted - started),
                        "infer_ms": 1e3 * (submitted - encrypted), "post_ms": 1e3 * (submitted - serialized),
                        "job_fetch_ms": 1e3 * (fetched - submitted),
                        "decrypt_ms": 1e3 * (decrypted - fetched), "max_error": max(errors[-batch:])})
        print(f"{backend.name}: batch {batch:2d}: request {len(request):,} B, encrypt {results[-1]['encrypt_ms']:.1f} ms, "
              f"infer {results[-1]['infer_ms']:.1f} ms (POST alone {results[-1]['post_ms']:.1f}), GET /jobs {results[-1]['job_fetch_ms']:.1f} ms, "
              f"decrypt {results[-1]['decrypt_ms']:.1f} ms, max |error| {results[-1]['max_error']:.2e}")
    worst = max(errors)
    mean = sum(errors) / len(errors)
    first = results[0]
    if abs(formula([0.1 * (i + 1) for i in range(dimension)]) - 0.507289) > 1e-6:
        print("unexpected published model", file=sys.stderr)
        return 1
    print(f"{backend.name} (SEAL {header_version(streams[0])}): {len(errors)} values, mean |error| {mean:.2e}, "
          f"max {worst:.2e} (tolerance {TOLERANCE:g}); first request {first['request_bytes']:,} B")
    if arguments.json:
        single = ([r for r in results if r["batch"] == 1] or results)
        single = single[arguments.warmup:] or single

        def mean_of(key):
            return sum(r[key] for r in single) / len(single)

        with open(arguments.json, "w") as handle:
            json.dump({"client": backend.name, "seal_version": header_version(streams[0]), "runs": len(single),
                       "encrypt_ms": mean_of("encrypt_ms"), "infer_ms": mean_of("infer_ms"),
                       "post_ms": mean_of("post_ms"),
                       "job_fetch_ms": mean_of("job_fetch_ms"), "decrypt_ms": mean_of("decrypt_ms"),
                       "mean_absolute_error": mean, "max_absolute_error": worst}, handle, indent=1)
    if worst > TOLERANCE:
        print(f"FAIL: an error above {TOLERANCE:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
