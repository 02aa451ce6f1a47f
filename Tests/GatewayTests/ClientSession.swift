import CKKS
import Foundation
import Gateway
import GatewayAPI
import HummingbirdTesting
import InferencePrograms
import NIOCore
import TestSupport
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

  init(model: Components.Schemas.Model) throws {
    let encryption = model.encryptionParameters
    let layout = model.encryptedLayout
    let description = ParameterDescription(
      degree: encryption.polyModulusDegree, ciphertextPrimeBits: encryption.coeffModulusBits,
      specialPrimeBits: encryption.specialModulusBits, defaultScale: layout.inputScale,
      keySwitchingDigits: encryption.keySwitchingDigits)
    let shape = try LayoutDescription(
      kind: try #require(LayoutDescription.Kind(rawValue: layout.kind.rawValue)),
      samplesPerCiphertext: layout.samplesPerCiphertext, ciphertextsPerGroup: layout.ciphertextsPerGroup,
      resultsPerGroup: layout.resultsPerGroup, sampleStride: layout.sampleStride, resultOffset: layout.resultOffset,
      classStride: layout.classStride,
      inputReplicaOffset: layout.inputReplicaOffset,
      image: layout.image.map { LayoutDescription.ImageGeometry(side: $0.side, kernel: $0.kernel, stride: $0.stride) }
    ).layout(
      degree: description.degree, inputDimension: model.inference.inputDimension,
      outputDimension: model.inference.outputDimension)
    try self.init(
      parameters: description, layout: shape, inputDimension: model.inference.inputDimension,
      inputLevel: layout.inputLevel, fingerprint: encryption.parameterFingerprint, resultScale: layout.resultScale)
    modelId = model.modelId
    version = model.version
    galoisElements = layout.requiredEvaluationKeys.galoisElements
    needsRelinearization = layout.requiredEvaluationKeys.relinearization
    needsPublicKey = layout.requiredEvaluationKeys.publicKey
  }

  /// The session for a `GET /models/{id}/{version}` response body.
  init(modelBody: ByteBuffer) throws {
    try self.init(model: try ContractJSON.decode(Components.Schemas.Model.self, modelBody))
  }

  /// Reads `GET /models/{id}/{version}` and builds the session for it.
  static func fetch(
    _ modelId: String, version: String = "1.0.0", from client: any TestClientProtocol
  ) async throws -> ClientSession {
    let body = try await client.execute(uri: "/models/\(modelId)/\(version)", method: .get) { response in
      guard response.status == .ok else { throw TestFailure("GET /models/\(modelId)/\(version): \(response.status)") }
      return response.body
    }
    return try ClientSession(modelBody: body)
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

  /// Polls `GET /jobs/{id}` on `client` until the job is final (at most 30 s), as a client does.
  static func poll(_ client: any TestClientProtocol, _ jobId: String) async throws -> Components.Schemas.Job {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
      let job = try await client.execute(uri: "/jobs/\(jobId)", method: .get) { response in
        #expect(response.status == .ok)
        return try ContractJSON.decode(Components.Schemas.Job.self, response.body)
      }
      if job.status == .completed || job.status == .failed || ContinuousClock.now > deadline { return job }
      try await Task.sleep(for: .milliseconds(20))
    }
  }

  /// The result ciphertexts of a completed job.
  func results(job: Components.Schemas.Job) throws -> [Ciphertext] {
    let result = try #require(job.result, "job \(job.jobId) has no result (\(job.status))")
    return try ([result.payload] + (result.additionalPayloads ?? [])).map {
      try Ciphertext(deserializing: Array($0.data), parameters: parameters)
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
  func decrypt(job: Components.Schemas.Job, sampleCount: Int) throws -> [[Double]] {
    let encoder = CKKSEncoder(parameters: parameters)
    let decryptor = Decryptor(secretKey: secretKey)
    var scores: [[Double]] = []
    let results = try results(job: job)
    let perGroup = layout.resultsPerGroup
    #expect(results.count % perGroup == 0)
    for start in stride(from: 0, to: results.count, by: perGroup) {
      let plaintexts = try results[start..<(start + perGroup)].map { ciphertext in
        #expect(ciphertext.scale == resultScale)
        return try decryptor.decrypt(ciphertext)
      }
      let count = min(layout.samplesPerCiphertext, sampleCount - scores.count)
      scores += layout.scores(inResults: plaintexts, with: encoder, count: count)
    }
    return scores
  }

  /// Decrypts the job in a `POST /infer` or `GET /jobs/{id}` response body.
  func decrypt(jobBody: ByteBuffer, sampleCount: Int) throws -> [[Double]] {
    try decrypt(job: try ContractJSON.decode(Components.Schemas.Job.self, jobBody), sampleCount: sampleCount)
  }
}
