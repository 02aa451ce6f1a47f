import AsyncHTTPClient
import CKKS
import Foundation
import Gateway
import NIOCore
import NIOHTTP1

/// The reference gateway's own scenario through our gateway's reference contract: its request
/// (logistic_v1, 8 SEAL ciphertexts at N = 16384, about 12.6 MB of hex JSON) sent as a SEAL client
/// sends it, timing the server's share (the `POST /reference/infer` round trip, the request
/// already built, and `GET /reference/jobs/{id}`).
struct ReferenceScenario {
  let baseURL: String
  let apiKey: String?
  let runs: Int
  let warmup: Int

  /// The reference's sample (its documented example) and formula.
  static let sample = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]

  func measure() async throws -> ReferenceReport {
    let client = HTTPClient.shared
    // Discover as the reference client does, and build its SEAL session from the published values.
    let models = try await getJSON(client, "/reference/models")
    guard
      let model = (models["models"] as? [[String: Any]])?.first(where: { $0["model_id"] as? String == "logistic_v1" }),
      let encryption = model["encryption_parameters"] as? [String: Any],
      let degree = encryption["poly_modulus_degree"] as? Int, let bits = encryption["coeff_modulus_bits"] as? [Int],
      let specialBits = bits.last, let scale = encryption["scale"] as? Double,
      let published = model["parameters"] as? [String: Any], let weights = published["weights"] as? [Double],
      let bias = published["bias"] as? Double,
      let activation = (model["activation_parameters"] as? [String: Any])?["coefficients"] as? [Double]
    else { throw BenchError("the gateway does not serve logistic_v1 through /reference") }
    let parameters = try CKKSParameters(
      ParameterDescription(
        degree: degree, ciphertextPrimeBits: Array(bits.dropLast()), specialPrimeBits: [specialBits],
        defaultScale: scale))
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let publicKey = KeyGenerator.publicKey(secretKey: secretKey)
    let encoder = CKKSEncoder(parameters: parameters)
    let clock = ContinuousClock()
    let encryptStart = clock.now
    // SEAL 4.1 headers, as Pyfhel 3.5.0 writes them.
    let version = SEALFormat.Version(major: 4, minor: 1)
    let streams = try Self.sample.map { value in
      try Encryptor(publicKey: publicKey).encrypt(try encoder.encode([value], scale: scale))
        .sealBytes(parameters: parameters, version: version)
    }
    let encryptSeconds = (clock.now - encryptStart).seconds
    var body = ByteBuffer()
    body.writeString(#"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":["#)
    for (index, stream) in streams.enumerated() {
      body.writeString((index == 0 ? "" : ",") + #"{"encoding":"hex","payload":""#)
      body.writeString(HexCodec.encode(stream))
      body.writeString(#""}"#)
    }
    body.writeString("]}")
    let requestBytes = body.readableBytes

    var postSeconds: [Double] = []
    var getSeconds: [Double] = []
    var responseBytes = 0
    var lastPayload = ""
    for run in 0..<(warmup + runs) {
      let start = clock.now
      let answer = try await send(client, "/reference/infer", method: .POST, body: body)
      let posted = clock.now
      guard let id = answer.json["job_id"] as? String, answer.json["status"] as? String == "completed" else {
        throw BenchError("POST /reference/infer answered \(answer.json)")
      }
      let job = try await send(client, "/reference/jobs/\(id)", method: .GET, body: nil)
      let fetched = clock.now
      guard let result = job.json["result"] as? [String: Any], let payload = result["payload"] as? String else {
        throw BenchError("GET /reference/jobs answered no result")
      }
      if run >= warmup {
        postSeconds.append((posted - start).seconds)
        getSeconds.append((fetched - posted).seconds)
      }
      responseBytes = job.bytes
      lastPayload = payload
    }
    let decryptStart = clock.now
    guard let resultStream = HexCodec.decode(lastPayload) else { throw BenchError("the result payload is not hex") }
    let decrypted = encoder.decode(
      try Decryptor(secretKey: secretKey).decrypt(try Ciphertext(sealBytes: resultStream, parameters: parameters)))[0]
    let decryptSeconds = (clock.now - decryptStart).seconds
    let z = zip(weights, Self.sample).reduce(bias) { $0 + $1.0 * $1.1 }
    let expected = activation[0] + activation[1] * z + activation[2] * z * z
    return ReferenceReport(
      requestBytes: requestBytes, responseBytes: responseBytes, ciphertextBytes: streams[0].count,
      resultCiphertextBytes: resultStream.count, postInferMs: LatencyStats(postSeconds),
      getJobMs: LatencyStats(getSeconds), swiftClientEncryptMs: 1000 * encryptSeconds,
      swiftClientDecryptMs: 1000 * decryptSeconds, absoluteError: abs(decrypted - expected), sealClient: nil)
  }

  struct Answer {
    let json: [String: Any]
    let bytes: Int
  }

  func send(_ client: HTTPClient, _ path: String, method: HTTPMethod, body: ByteBuffer?) async throws -> Answer {
    var request = HTTPClientRequest(url: baseURL + path)
    request.method = method
    if let body {
      request.headers.add(name: "content-type", value: "application/json")
      request.body = .bytes(body)
    }
    if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
    let response = try await client.execute(request, timeout: .seconds(60))
    let buffer = try await response.body.collect(upTo: 64 << 20)
    guard response.status == .ok else {
      throw BenchError("\(method) \(path): HTTP \(response.status.code) \(String(buffer: buffer).prefix(300))")
    }
    let object = try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] ?? [:]
    return Answer(json: object, bytes: buffer.readableBytes)
  }

  func getJSON(_ client: HTTPClient, _ path: String) async throws -> [String: Any] {
    try await send(client, path, method: .GET, body: nil).json
  }
}

struct BenchError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The reference scenario's figures.
struct ReferenceReport: Codable {
  /// Timings of a real SEAL client (scripts/reference_client.py --json) against the same gateway.
  struct SEALClient: Codable {
    var client: String
    var sealVersion: String
    var runs: Int
    /// Encrypting the 8 feature columns (SEAL streams included).
    var encryptMs: Double
    /// The client's infer call: hex, JSON and the `POST /infer` round trip.
    var inferMs: Double
    /// The `POST /infer` round trip alone.
    var postMs: Double
    var jobFetchMs: Double
    var decryptMs: Double
    var meanAbsoluteError: Double
    var maxAbsoluteError: Double
  }

  /// HTTP body bytes of `POST /reference/infer` and of the completed `GET /reference/jobs/{id}`.
  var requestBytes: Int
  var responseBytes: Int
  /// One input SEAL ciphertext and the result, in bytes (before hex).
  var ciphertextBytes: Int
  var resultCiphertextBytes: Int
  /// The server's share: the request already built.
  var postInferMs: LatencyStats
  var getJobMs: LatencyStats
  /// This library as the client (SEAL bytes), for comparison with the SEAL client.
  var swiftClientEncryptMs: Double
  var swiftClientDecryptMs: Double
  var absoluteError: Double
  var sealClient: SEALClient?
}
