public import CKKS
public import Foundation
import GatewayAPI
import InferencePrograms
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The client's CKKS state for one model: parameters rebuilt from the metadata, the secret key
/// (generated once, optionally kept in a key file only the owner can read), encoding per the
/// model's layout, seeded encryption, evaluation keys, decryption. The secret key never leaves
/// this object except into the key file.
public final class InferenceSession: Sendable {
  public let model: ModelInfo
  public let parameters: CKKSParameters
  let secretKey: SecretKey
  private let encoder: CKKSEncoder
  private let registeredKeyId = Mutex<String?>(nil)
  /// The registration in flight, shared by every caller that needs the keys meanwhile.
  let pendingRegistration = Mutex<Task<String, any Error>?>(nil)

  /// Builds the session and checks the parameters' fingerprint against the server's.
  /// - Parameter keyFile: where to keep the secret key; an existing file is loaded (it must
  ///   belong to these parameters), a missing one is created with permissions 0600.
  /// - Throws: ``SDKError/incompatibleModel(_:)`` when the parameters are refused or the
  ///   fingerprints differ; ``SDKError/keyFile(_:)`` for key-file problems.
  public init(model: ModelInfo, keyFile: URL? = nil) throws(SDKError) {
    self.model = model
    do {
      parameters = try CKKSParameters(model.parameters)
    } catch {
      throw .incompatibleModel("parameters refused: \(error)")
    }
    guard parameters.fingerprint.description == model.fingerprint else {
      throw .incompatibleModel("the rebuilt parameters' fingerprint differs from the server's")
    }
    encoder = CKKSEncoder(parameters: parameters)
    if let keyFile, FileManager.default.fileExists(atPath: keyFile.path) {
      do {
        secretKey = try SecretKey(deserializing: Array(try Data(contentsOf: keyFile)), parameters: parameters)
      } catch {
        throw .keyFile("cannot load \(keyFile.path) for these parameters: \(error)")
      }
    } else {
      secretKey = KeyGenerator.secretKey(parameters: parameters)
      if let keyFile { try Self.createKeyFile(secretKey.serialized(), at: keyFile) }
    }
  }

  /// Writes `bytes` to a new file readable and writable by the owner only.
  private static func createKeyFile(_ bytes: [UInt8], at file: URL) throws(SDKError) {
    let descriptor = open(file.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard descriptor >= 0 else { throw .keyFile("cannot create \(file.path) (errno \(errno))") }
    defer { close(descriptor) }
    let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw .keyFile("cannot write \(file.path)") }
  }

  /// The key set id registered for this session, if any.
  public var evaluationKeyId: String? {
    get { registeredKeyId.withLock { $0 } }
    set { registeredKeyId.withLock { $0 = newValue } }
  }

  /// Forgets the registered key set id if it is still `stale` (the gateway no longer has it); a
  /// set registered since by a concurrent caller is kept.
  public func forgetEvaluationKeyId(ifStill stale: String?) {
    registeredKeyId.withLock { if $0 == stale { $0 = nil } }
  }

  // MARK: Inputs

  /// Checks dimensions, finiteness, the model's input bound and batch size, before encryption.
  /// - Throws: ``SDKError/invalidInput(_:)`` naming the first sample or value that breaks a rule.
  public func validate(_ samples: [[Double]]) throws(SDKError) {
    guard !samples.isEmpty else { throw .invalidInput("no samples") }
    guard samples.count <= model.maxBatchSize else {
      throw .invalidInput("\(samples.count) samples exceed the model's max_batch_size \(model.maxBatchSize)")
    }
    for (index, sample) in samples.enumerated() {
      guard sample.count == model.inputDimension else {
        throw .invalidInput("sample \(index) has \(sample.count) values; the model takes \(model.inputDimension)")
      }
      if let bad = sample.firstIndex(where: { !$0.isFinite }) {
        throw .invalidInput("sample \(index), value \(bad) is not a finite number")
      }
      if let outside = sample.firstIndex(where: { abs($0) > model.inputBound }) {
        throw .invalidInput(
          "sample \(index), value \(outside) = \(sample[outside]) is outside ±\(model.inputBound), the model's input bound"
        )
      }
    }
  }

  /// Encrypts `samples` (validated first) into serialized seeded ciphertexts, as many as the
  /// layout needs (each group of `samplesPerCiphertext` samples takes `ciphertextsPerGroup`
  /// ciphertexts), samples in order.
  /// - Throws: ``SDKError/invalidInput(_:)`` as ``validate(_:)``, or when a value does not fit the
  ///   encoding scale.
  public func encrypt(_ samples: [[Double]]) throws(SDKError) -> [[UInt8]] {
    try validate(samples)
    let perCiphertext = model.layout.samplesPerCiphertext
    let encryptor = Encryptor(secretKey: secretKey)
    var result: [[UInt8]] = []
    for start in stride(from: 0, to: samples.count, by: perCiphertext) {
      let chunk = Array(samples[start..<min(start + perCiphertext, samples.count)])
      do {
        for plaintext in try model.layout.encode(chunk, with: encoder, scale: model.inputScale, level: model.inputLevel)
        {
          result.append(try encryptor.encrypt(plaintext).serialized(parameters: parameters))
        }
      } catch {
        throw .invalidInput("cannot encode: \(error)")
      }
    }
    return result
  }

  // MARK: Evaluation keys

  /// The serialized relinearization key, Galois keys and public key (seeded form) the model
  /// declares (nil when not needed). Every one is public material; the secret key stays here.
  /// - Throws: ``SDKError/incompatibleModel(_:)`` when the parameters cannot make the keys the
  ///   model declares (no special primes, an invalid Galois element).
  public func evaluationKeys() throws(SDKError) -> (relinearization: [UInt8]?, galois: [UInt8]?, publicKey: [UInt8]?) {
    do {
      let relinearization =
        model.needsRelinearizationKey
        ? try KeyGenerator.relinearizationKey(secretKey: secretKey).serialized(parameters: parameters) : nil
      var galois: [UInt8]?
      if !model.galoisElements.isEmpty {
        let elements = try model.galoisElements.map { try GaloisElement($0, degree: parameters.degree) }
        galois = try KeyGenerator.galoisKeys(secretKey: secretKey, elements: elements).serialized(
          parameters: parameters)
      }
      let publicKey =
        model.needsPublicKey ? KeyGenerator.publicKey(secretKey: secretKey).serialized() : nil
      return (relinearization, galois, publicKey)
    } catch {
      throw .incompatibleModel("cannot generate the evaluation keys: \(error)")
    }
  }

  // MARK: Results

  /// Decrypts result ciphertexts into the scores of the first `sampleCount` samples (before the
  /// output transform).
  ///
  /// Decrypted values stay with the caller: the SDK never sends, logs or measures them. Never
  /// send them (or anything computed from them at full precision) to the party that produced
  /// the ciphertexts: approximate decryptions of chosen ciphertexts can leak the secret key
  /// (Li–Micciancio, IND-CPA^D; docs/threat-model.md). Round them coarsely or add noise first if
  /// an application must, and otherwise treat this session's key as exposed.
  /// - Throws: ``SDKError/invalidResult(_:)`` when a payload is not a ciphertext of this session's
  ///   parameters or holds fewer scores than `sampleCount`.
  public func decryptScores(_ payloads: [[UInt8]], sampleCount: Int) throws(SDKError) -> [[Double]] {
    let decryptor = Decryptor(secretKey: secretKey)
    let perGroup = model.layout.resultsPerGroup
    var scores: [[Double]] = []
    // Each group of input ciphertexts gives the layout's resultsPerGroup results, in order.
    for start in stride(from: 0, to: payloads.count - perGroup + 1, by: perGroup) {
      let remaining = sampleCount - scores.count
      guard remaining > 0 else { break }
      let count = min(model.layout.samplesPerCiphertext, remaining)
      do {
        let plaintexts = try payloads[start..<(start + perGroup)].map { payload in
          let ciphertext = try Ciphertext(deserializing: payload, parameters: parameters)
          guard ciphertext.scale == model.resultScale else {
            throw SDKError.invalidResult("result scale \(ciphertext.scale), expected \(model.resultScale)")
          }
          return try decryptor.decrypt(ciphertext)
        }
        scores += model.layout.scores(inResults: plaintexts, with: encoder, count: count)
      } catch let error as SDKError {
        throw error
      } catch {
        throw .invalidResult("\(error)")
      }
    }
    guard scores.count == sampleCount else {
      throw .invalidResult("\(payloads.count) result ciphertexts hold fewer than \(sampleCount) samples")
    }
    return scores
  }
}
