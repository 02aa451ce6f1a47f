import CKKS
import Foundation
import Gateway
import GatewayAPI
import InferencePrograms
import NIOCore
import Testing

/// The client side, done with the CKKS library directly from the metadata (parameters, a secret
/// key, encoding per the declared layout, seeded encryption, evaluation keys, decryption). Kept
/// independent of the SDK on purpose: it shows that a client built from the contract and the
/// programs layer alone works.
struct ClientSession: Sendable {
  var modelId = "logistic_v1"
  var version = "1.0.0"
  let parameters: CKKSParameters
  let layout: any SampleLayout
  let inputDimension: Int
  let inputLevel: Int
  let declaredFingerprint: String
  let inputScale: Double
  let resultScale: Double
  var galoisElements: [Int] = []
  var needsRelinearization = false
  var needsPublicKey = false
  let secretKey: SecretKey

  init(model: [String: Any]) throws {
    let encryption = try #require(model["encryption_parameters"] as? [String: Any])
    let layout = try #require(model["encrypted_layout"] as? [String: Any])
    let inference = try #require(model["inference"] as? [String: Any])
    let description = ParameterDescription(
      degree: try #require(encryption["poly_modulus_degree"] as? Int),
      ciphertextPrimeBits: try #require(encryption["coeff_modulus_bits"] as? [Int]),
      specialPrimeBits: try #require(encryption["special_modulus_bits"] as? [Int]),
      defaultScale: try #require(layout["input_scale"] as? Double))
    let inputs = try #require(inference["input_dimension"] as? Int)
    let outputs = try #require(inference["output_dimension"] as? Int)
    let kindName = try #require(layout["kind"] as? String)
    let shape = try LayoutDescription(
      kind: try #require(LayoutDescription.Kind(rawValue: kindName)),
      samplesPerCiphertext: try #require(layout["samples_per_ciphertext"] as? Int),
      ciphertextsPerGroup: try #require(layout["ciphertexts_per_group"] as? Int),
      sampleStride: try #require(layout["sample_stride"] as? Int),
      resultOffset: try #require(layout["result_offset"] as? Int),
      classStride: try #require(layout["class_stride"] as? Int),
      inputReplicaOffset: layout["input_replica_offset"] as? Int,
      image: (layout["image"] as? [String: Int]).map {
        LayoutDescription.ImageGeometry(side: $0["side"] ?? 0, kernel: $0["kernel"] ?? 0, stride: $0["stride"] ?? 0)
      }
    ).layout(degree: description.degree, inputDimension: inputs, outputDimension: outputs)
    try self.init(
      parameters: description, layout: shape, inputDimension: inputs,
      inputLevel: try #require(layout["input_level"] as? Int),
      fingerprint: try #require(encryption["parameter_fingerprint"] as? String),
      resultScale: try #require(layout["result_scale"] as? Double))
    modelId = try #require(model["model_id"] as? String)
    version = try #require(model["version"] as? String)
    let keys = try #require(layout["required_evaluation_keys"] as? [String: Any])
    galoisElements = try #require(keys["galois_elements"] as? [Int])
    needsRelinearization = try #require(keys["relinearization"] as? Bool)
    needsPublicKey = try #require(keys["public_key"] as? Bool)
  }

  init(
    parameters description: ParameterDescription, layout: any SampleLayout, inputDimension: Int, inputLevel: Int = 0,
    fingerprint: String = "", resultScale: Double = 0x1p48
  ) throws {
    parameters = try CKKSParameters(description)
    self.layout = layout
    self.inputDimension = inputDimension
    self.inputLevel = inputLevel
    declaredFingerprint = fingerprint
    inputScale = description.defaultScale
    self.resultScale = resultScale
    secretKey = KeyGenerator.secretKey(parameters: parameters)
  }

  /// One serialized ciphertext, base64.
  func payload(_ ciphertext: Ciphertext) -> String {
    Data(ciphertext.serialized(parameters: parameters)).base64EncodedString()
  }

  /// The seeded ciphertexts of one group holding `samples`, base64.
  func payloads(samples: [[Double]]) throws -> [String] {
    let padded = samples.map { $0 + [Double](repeating: 0, count: max(0, inputDimension - $0.count)) }
    let encoder = CKKSEncoder(parameters: parameters)
    return try layout.encode(padded, with: encoder, scale: inputScale, level: inputLevel).map {
      payload(try Encryptor(secretKey: secretKey).encrypt($0))
    }
  }

  /// One seeded ciphertext holding `samples` (a layout whose groups are one ciphertext), base64.
  func payload(samples: [[Double]]) throws -> String {
    let group = try payloads(samples: samples)
    precondition(group.count == 1, "a group of \(group.count) ciphertexts")
    return group[0]
  }

  /// The `POST /infer` body for `samples`.
  func request(samples: [[Double]], waitMilliseconds: Int? = nil, keyId: String? = nil) throws -> ByteBuffer {
    let perCiphertext = layout.samplesPerCiphertext
    let inputs = try stride(from: 0, to: samples.count, by: perCiphertext).flatMap { start in
      try payloads(samples: Array(samples[start..<min(start + perCiphertext, samples.count)])).map {
        ["encoding": "base64", "format": "heinfer-ckks-v1", "payload": $0]
      }
    }
    var object: [String: Any] = [
      "api_version": ContractInfo.version, "model_id": modelId, "version": version,
      "batch_size": samples.count, "inputs": inputs,
    ]
    if let waitMilliseconds { object["wait_ms"] = waitMilliseconds }
    if let keyId { object["evaluation_key_id"] = keyId }
    return ByteBuffer(data: try JSONSerialization.data(withJSONObject: object))
  }

  /// The `POST /infer` body for already serialized inputs.
  func request(payloads: [String], batchSize: Int, keyId: String?) throws -> ByteBuffer {
    var object: [String: Any] = [
      "api_version": ContractInfo.version, "model_id": modelId, "version": version, "batch_size": batchSize,
      "inputs": payloads.map { ["encoding": "base64", "format": "heinfer-ckks-v1", "payload": $0] },
      "wait_ms": 10_000,
    ]
    if let keyId { object["evaluation_key_id"] = keyId }
    return ByteBuffer(data: try JSONSerialization.data(withJSONObject: object))
  }

  /// The result ciphertexts of a completed job.
  func results(job: [String: Any]) throws -> [Ciphertext] {
    let result = try #require(job["result"] as? [String: Any])
    let first = try #require(result["payload"] as? String)
    return try ([first] + (result["additional_payloads"] as? [String] ?? [])).map { text in
      try Ciphertext(deserializing: Array(try #require(Data(base64Encoded: text))), parameters: parameters)
    }
  }

  /// The `POST /keys` body: the relinearization key, the Galois keys and the public key the model
  /// declares.
  func keyRegistration(galoisElements elements: [Int]? = nil) throws -> ByteBuffer {
    var object: [String: Any] = [
      "api_version": ContractInfo.version, "model_id": modelId, "version": version,
    ]
    if needsRelinearization {
      let key = try KeyGenerator.relinearizationKey(secretKey: secretKey)
      object["relinearization_key"] = [
        "encoding": "base64", "format": "heinfer-ckks-v1",
        "payload": Data(key.serialized(parameters: parameters)).base64EncodedString(),
      ]
    }
    let wanted = try (elements ?? galoisElements).map { try GaloisElement($0, degree: parameters.degree) }
    if !wanted.isEmpty {
      let keys = try KeyGenerator.galoisKeys(secretKey: secretKey, elements: wanted)
      object["galois_keys"] = [
        "encoding": "base64", "format": "heinfer-ckks-v1",
        "payload": Data(keys.serialized(parameters: parameters)).base64EncodedString(),
      ]
    }
    if needsPublicKey {
      object["public_key"] = [
        "encoding": "base64", "format": "heinfer-ckks-v1",
        "payload": Data(KeyGenerator.publicKey(secretKey: secretKey).serialized()).base64EncodedString(),
      ]
    }
    return ByteBuffer(data: try JSONSerialization.data(withJSONObject: object))
  }

  /// Decrypts a completed job's outputs into `sampleCount` score vectors.
  func decrypt(job: [String: Any], sampleCount: Int) throws -> [[Double]] {
    let result = try #require(job["result"] as? [String: Any])
    let first = try #require(result["payload"] as? String)
    let outputs = [first] + (result["additional_payloads"] as? [String] ?? [])
    let encoder = CKKSEncoder(parameters: parameters)
    let decryptor = Decryptor(secretKey: secretKey)
    var scores: [[Double]] = []
    for text in outputs {
      let bytes = try #require(Data(base64Encoded: text))
      let ciphertext = try Ciphertext(deserializing: Array(bytes), parameters: parameters)
      #expect(ciphertext.scale == resultScale)
      let plaintext = try decryptor.decrypt(ciphertext)
      let count = min(layout.samplesPerCiphertext, sampleCount - scores.count)
      scores += layout.scores(in: plaintext, with: encoder, count: count)
    }
    return scores
  }
}

/// A failed precondition of a test, thrown with what went wrong.
struct TestFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
