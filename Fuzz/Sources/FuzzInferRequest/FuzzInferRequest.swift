import CKKS
import Foundation
import FuzzSupport
import GatewayAPI
import Logging

@testable import Gateway

/// `POST /infer` bodies as the gateway reads them: the generated contract type, the schema's
/// patterns and limits, then validation against the bundled models (base64 payloads, every
/// ciphertext loaded and checked; the key lookup after it is a store query, not a decoder).
let service = InferenceService(
  registry: try! ModelRegistry.bundled(), store: InMemoryJobStore(), pool: WorkerPool(threads: 1, queueCapacity: 1),
  logger: Logger(label: "fuzz"))

func check(_ body: Components.Schemas.InferRequest) throws(GatewayError) {
  _ = try service.checkedInputs(GatewayAPIHandler.request(body))
}

@_cdecl("FuzzInferRequest_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    var seeds: [[UInt8]] = []
    for (id, samples) in [("logistic_v1", 2), ("iris_mlp", 1)] {
      let model = service.registry.model(id: id, version: "1.0.0")!
      let parameters = model.parameters
      let plaintext = try! CKKSEncoder(parameters: parameters).encodeCoefficients(
        [0.5, 0.25], scale: model.definition.encryption.inputScale, level: model.program.inputLevel)
      let ciphertext = try! Encryptor(secretKey: KeyGenerator.secretKey(parameters: parameters)).encrypt(plaintext)
      let payload = Data(ciphertext.serialized(parameters: parameters)).base64EncodedString()
      let object: [String: Any] = [
        "api_version": ContractInfo.version, "model_id": id, "version": "1.0.0", "batch_size": samples,
        "inputs": [["encoding": "base64", "format": "heinfer-ckks-v1", "payload": payload]], "wait_ms": 100,
        "evaluation_key_id": "0123456789abcdef0123456789abcdef",
      ]
      seeds.append(Array(try! JSONSerialization.data(withJSONObject: object)))
      // The same request with the ciphertext cut after its header and a few residues: small
      // enough for the harness's 8 KB inputs, and it reaches every check of the header.
      var short = object
      let head = Data(ciphertext.serialized(parameters: parameters).prefix(96)).base64EncodedString()
      short["inputs"] = [["encoding": "base64", "format": "heinfer-ckks-v1", "payload": head]]
      seeds.append(Array(try! JSONSerialization.data(withJSONObject: short)))
    }
    return seeds
  } test: { bytes in
    guard let body = try? JSONDecoder().decode(Components.Schemas.InferRequest.self, from: Data(bytes)) else { return }
    do { try check(body) } catch let error as GatewayError {
      precondition(error.message.count <= GatewayError.maximumMessageLength)
    } catch {
      preconditionFailure("an error that is not a GatewayError: \(error)")
    }
  }
}
