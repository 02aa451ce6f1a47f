public import CKKS
public import Foundation
public import InferencePrograms

/// The JSON file that defines one served model (one file per model version in the models folder).
///
/// Every field is required unless marked optional; unknown fields are refused so that a typo does
/// not silently fall back to a default. The file format is documented in `docs/models.md`.
public struct ModelDefinition: Codable, Sendable, Equatable {
  /// Lowercase identifier, `[a-z][a-z0-9_]{0,63}`.
  public var modelId: String
  /// Semantic version `MAJOR.MINOR.PATCH`.
  public var version: String
  public var description: String
  /// What the model computes on the server.
  public var kind: Kind
  /// `cnn` only: the convolution on the image.
  public var convolution: Convolution?
  /// `cnn` only: how images are encrypted (optional, default `image_windows`).
  public var encryptedLayout: NetworkLayout?
  /// `mlp`: `hidden × input_dimension` weights of the hidden layer; `cnn`: `hidden × (channels ·
  /// windows)`, inputs ordered channel by channel, each channel's windows row by row.
  public var hiddenWeights: [[Double]]?
  /// `mlp` and `cnn`: `hidden` biases of the hidden layer.
  public var hiddenBias: [Double]?
  /// `cnn` only: the largest absolute values the layers produce (before the squares), measured on
  /// the training data with a margin by the script that trained the network; they set the scale
  /// headroom checks.
  public var valueBounds: ValueBounds?
  /// `output_dimension × (input_dimension or hidden)` weights of the (output) linear layer
  /// (`linear`, `mlp` and `cnn`; a `network` carries its layers in `network`).
  public var weights: [[Double]]?
  /// `output_dimension` biases (as `weights`).
  public var bias: [Double]?
  /// `network` only: the compiled network (`heinfer compile` writes it).
  public var network: Network?
  /// Polynomial, lowest degree first (`[c0, c1, …]`). `linear`: applied to every score, degree
  /// ≤ 1 (folded into the weights), e.g. the reference gateway's `polynomial_sigmoid_v1` with
  /// coefficients `[0.5, 0.197, 0.0]`. `mlp`: the hidden layer's activation, degree ≤ 2.
  public var activation: Activation?
  /// The exact step the client applies after decryption.
  public var outputTransform: ScoreTransform
  public var encryption: Encryption
  /// Largest batch (samples per request).
  public var maxBatchSize: Int
  /// Inputs are expected within ±inputBound; it sets the scale headroom check.
  public var inputBound: Double
  /// Publish `weights` and `bias` in the model metadata, as the reference gateway does (single-output
  /// linear models only; optional, default false).
  public var publishParameters: Bool?
  /// How results of a model with private weights are protected (optional). Absent: they are
  /// sanitized (masked, flooded, re-randomized), which `linear` models can do and `mlp` models
  /// cannot (docs/threat-model.md, "Model privacy"), so a private `mlp` must say `none`: the
  /// operator's written acknowledgement that its results reveal weight-dependent noise besides
  /// the scores. Refused on models that publish their weights.
  public var resultProtection: ResultProtection?
  /// A second encrypted layout of the same model, served through the reference contract
  /// (`/reference`, `schemas/reference-v1`): SEAL ciphertexts, one per feature (optional).
  public var sealLayout: SEALLayout?

  public enum Kind: String, Codable, Sendable {
    /// Scores = weights · x + bias, evaluated as coefficient-encoded dot products.
    case linear
    /// Scores = weights · a(hidden_weights · x + hidden_bias) + bias with a polynomial a of
    /// degree ≤ 2, evaluated in slots with rotations and one ciphertext multiplication.
    case mlp
    /// A convolutional network on one square image per ciphertext: convolution → x² → hidden
    /// layer → x² → output layer, evaluated in slots (the `image_windows` layout).
    case cnn
    /// A network compiled from an ONNX graph by `heinfer compile`: linear stages and polynomial
    /// activations, evaluated in slots (the `strided_slots` layout).
    case network
  }

  /// A compiled network and how it is laid out.
  public struct Network: Codable, Sendable, Equatable {
    /// The ONNX file it was compiled from, kept beside the model file (informational).
    public var source: String?
    /// Samples interleaved in one ciphertext, a power of two (1 for the lowest latency).
    public var samplesPerCiphertext: Int
    /// Scores are expected within ±score_bound (the base prime's headroom check).
    public var scoreBound: Double
    /// The stages, in order.
    public var stages: LayeredNetwork
    /// The keys the linear stages rotate with: one per baby step (`per_baby_step`, the default,
    /// fastest) or powers of two only (`powers_of_two`, fewest keys).
    public var rotationKeys: LinearTransformation.RotationKeys?

    enum CodingKeys: String, CodingKey, CaseIterable {
      case source
      case samplesPerCiphertext = "samples_per_ciphertext"
      case scoreBound = "score_bound"
      case stages
      case rotationKeys = "rotation_keys"
    }
  }

  /// The encrypted layouts a `cnn` can be served in (the contract's `encrypted_layout.kind`).
  public enum NetworkLayout: String, Codable, Sendable {
    /// One image per request ciphertext, cut into the convolution's windows: lowest latency.
    case imageWindows = "image_windows"
    /// Many images per group of one ciphertext per kernel position: highest throughput.
    case imageBatch = "image_batch"
  }

  /// A convolution of a square single-channel image: `channels` kernels of `kernel × kernel`
  /// weights (row by row), applied at every `stride`-th pixel in both directions, no padding.
  public struct Convolution: Codable, Sendable, Equatable {
    /// Pixels per side of the input image (the model's input dimension is its square).
    public var imageSide: Int
    /// Pixels per side of a kernel, 1 … `imageSide`.
    public var kernel: Int
    /// Pixels between the starts of neighbouring windows, 1 … `imageSide`.
    public var stride: Int
    /// `channels × kernel²` weights.
    public var weights: [[Double]]
    /// `channels` biases.
    public var bias: [Double]

    enum CodingKeys: String, CodingKey, CaseIterable {
      case imageSide = "image_side"
      case kernel, stride, weights, bias
    }
  }

  /// Largest absolute values of a network's layer outputs (each before its square).
  public struct ValueBounds: Codable, Sendable, Equatable {
    /// Largest |convolution output + bias|.
    public var convolution: Double
    /// Largest |hidden layer output + bias| (before its square).
    public var hidden: Double
    /// Largest |score|.
    public var scores: Double

    enum CodingKeys: String, CodingKey, CaseIterable {
      case convolution, hidden, scores
    }
  }

  public enum ResultProtection: String, Codable, Sendable {
    /// Results are returned as evaluated: scores plus noise that depends on the weights.
    case none
  }

  public struct Activation: Codable, Sendable, Equatable {
    /// A name reported to clients, e.g. `polynomial_sigmoid_v1`.
    public var name: String
    /// Polynomial coefficients, lowest degree first.
    public var coefficients: [Double]
  }

  /// The reference gateway's layout: SEAL 4.x ciphertexts in hex, one per feature, sample j of
  /// the batch in slot j, encrypted at `scale` at the top level; single-output linear models with
  /// published parameters only.
  public struct SEALLayout: Codable, Sendable, Equatable {
    /// SEAL's `poly_modulus_degree`.
    public var polyModulusDegree: Int
    /// The bit sizes clients pass to SEAL's `CoeffModulus::Create`, the special (key) prime last.
    public var coeffModulusBits: [Int]
    /// The scale clients encrypt at.
    public var scale: Double
    /// The largest input scale accepted (the reference accepts up to 4 · scale).
    public var maxInputScale: Double
    /// Largest batch: samples in slots 0 … max_batch_size − 1.
    public var maxBatchSize: Int
    /// The multiplicative depth the model metadata declares (the reference publishes 2).
    public var maxMultiplicativeDepth: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
      case polyModulusDegree = "poly_modulus_degree"
      case coeffModulusBits = "coeff_modulus_bits"
      case scale
      case maxInputScale = "max_input_scale"
      case maxBatchSize = "max_batch_size"
      case maxMultiplicativeDepth = "max_multiplicative_depth"
    }
  }

  /// The encryption parameters and the encoding scales.
  public struct Encryption: Codable, Sendable, Equatable {
    public var polyModulusDegree: Int
    public var coeffModulusBits: [Int]
    public var specialModulusBits: [Int]
    /// Key-switching digits (optional; default one per ciphertext prime, SEAL's choice).
    public var keySwitchingDigits: Int?
    /// Scale of the client's input encoding, Δx.
    public var inputScale: Double
    /// `linear`: scale of the server's weight encoding, Δw; results come back at Δx·Δw.
    /// (`mlp` encodes weights at the prime each layer rescales away and needs none.)
    public var weightScale: Double?
    /// Low bits dropped from result coefficients (the decryption-only shrink).
    public var resultDroppedBits: Int
  }

  enum CodingKeys: String, CodingKey, CaseIterable {
    case modelId = "model_id"
    case version, description, kind, convolution
    case encryptedLayout = "encrypted_layout"
    case hiddenWeights = "hidden_weights"
    case hiddenBias = "hidden_bias"
    case valueBounds = "value_bounds"
    case weights, bias, network, activation
    case outputTransform = "output_transform"
    case encryption
    case maxBatchSize = "max_batch_size"
    case inputBound = "input_bound"
    case publishParameters = "publish_parameters"
    case resultProtection = "result_protection"
    case sealLayout = "seal_layout"
  }
}

extension ModelDefinition.Encryption {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case polyModulusDegree = "poly_modulus_degree"
    case coeffModulusBits = "coeff_modulus_bits"
    case specialModulusBits = "special_modulus_bits"
    case keySwitchingDigits = "key_switching_digits"
    case inputScale = "input_scale"
    case weightScale = "weight_scale"
    case resultDroppedBits = "result_dropped_bits"
  }
}

extension ModelDefinition {
  /// Decodes a model file, refusing unknown fields at every level.
  /// - Throws: ``ModelDefinitionError`` naming the rule that failed.
  public static func decode(_ data: Data) throws(ModelDefinitionError) -> ModelDefinition {
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data)
    } catch {
      throw ModelDefinitionError(rule: "the file is not valid JSON")
    }
    guard let top = object as? [String: Any] else {
      throw ModelDefinitionError(rule: "the top level must be an object")
    }
    try checkKeys(top, allowed: CodingKeys.allCases.map(\.rawValue), at: "")
    if let encryption = top["encryption"] as? [String: Any] {
      try checkKeys(encryption, allowed: Encryption.CodingKeys.allCases.map(\.rawValue), at: "encryption.")
    }
    if let layout = top["seal_layout"] as? [String: Any] {
      try checkKeys(layout, allowed: SEALLayout.CodingKeys.allCases.map(\.rawValue), at: "seal_layout.")
    }
    if let activation = top["activation"] as? [String: Any] {
      try checkKeys(activation, allowed: ["name", "coefficients"], at: "activation.")
    }
    if let convolution = top["convolution"] as? [String: Any] {
      try checkKeys(convolution, allowed: Convolution.CodingKeys.allCases.map(\.rawValue), at: "convolution.")
    }
    if let network = top["network"] as? [String: Any] {
      try checkKeys(network, allowed: Network.CodingKeys.allCases.map(\.rawValue), at: "network.")
    }
    if let bounds = top["value_bounds"] as? [String: Any] {
      try checkKeys(bounds, allowed: ValueBounds.CodingKeys.allCases.map(\.rawValue), at: "value_bounds.")
    }
    do {
      return try JSONDecoder().decode(ModelDefinition.self, from: data)
    } catch let DecodingError.keyNotFound(key, context) {
      throw ModelDefinitionError(rule: "missing field \(path(context.codingPath + [key]))")
    } catch let DecodingError.typeMismatch(_, context) {
      throw ModelDefinitionError(rule: "wrong type at \(path(context.codingPath))")
    } catch let DecodingError.dataCorrupted(context) {
      throw ModelDefinitionError(rule: "invalid value at \(path(context.codingPath)): \(context.debugDescription)")
    } catch {
      throw ModelDefinitionError(rule: "cannot decode: \(error)")
    }
  }

  private static func checkKeys(_ object: [String: Any], allowed: [String], at prefix: String)
    throws(ModelDefinitionError)
  {
    if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
      throw ModelDefinitionError(rule: "unknown field \(prefix)\(unknown)")
    }
  }

  private static func path(_ keys: [any CodingKey]) -> String {
    keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
  }
}

/// A model file broke a rule; `rule` says which.
public struct ModelDefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
  public let rule: String
  public var description: String { rule }
}
