public import CKKS

/// Many images per group of ciphertexts, one ciphertext per kernel position: with W windows
/// (padded to a power of two w), K² kernel positions and B = (N/2) / w images per group,
/// ciphertext k of a group holds in slot `p·B + j` the pixel at kernel position k of window p of
/// image j. A convolution channel is then Σ_k weight_k · ciphertext_k, products by constants
/// without a rotation, and every later layer multiplies all B images' vectors at once (the
/// vectors interleaved, entry i of image j at slot i·B + j). Score c of image j comes back in
/// slot `c·B + j` of the result.
public struct ImageBatchLayout: Sendable, Equatable {
  /// N/2.
  public let slotCount: Int
  /// The image and the convolution's windows.
  public let geometry: LayoutDescription.ImageGeometry
  /// Scores per image.
  public let outputDimension: Int
  /// The same windows as the one-image layout cuts.
  public let windows: ImageWindowsLayout

  /// The layout for `slotCount` slots; ``imagesPerGroup`` is 0 when it cannot hold an image.
  public init(slotCount: Int, geometry: LayoutDescription.ImageGeometry, outputDimension: Int) {
    self.slotCount = slotCount
    self.geometry = geometry
    self.outputDimension = outputDimension
    windows = ImageWindowsLayout(slotCount: slotCount, geometry: geometry, outputDimension: outputDimension)
  }

  /// B: images per group, the slots divided by the padded window count (0 when the windows do not
  /// fit the slots, or the scores, interleaved like the windows, do not fit the padded window count).
  public var imagesPerGroup: Int {
    geometry.kernel >= 1 && geometry.stride >= 1 && geometry.side >= geometry.kernel
      && windows.windowStride <= slotCount && outputDimension <= windows.windowStride
      ? slotCount / windows.windowStride : 0
  }

  /// The slot vectors of the group's ciphertexts: up to B images (`side²` pixels each, row by
  /// row), one vector per kernel position.
  public func kernelPositionSlots(_ images: [[Double]]) -> [[Double]] {
    let b = imagesPerGroup
    precondition(images.count <= b && images.allSatisfy { $0.count == geometry.side * geometry.side })
    return (0..<windows.kernelPositions).map { k in
      var slots = [Double](repeating: 0, count: slotCount)
      for (j, image) in images.enumerated() {
        for p in 0..<windows.windowCount { slots[p * b + j] = image[windows.pixel(window: p, position: k)] }
      }
      return slots
    }
  }
}

extension ImageBatchLayout: SampleLayout {
  public var inputDimension: Int { geometry.side * geometry.side }
  public var samplesPerCiphertext: Int { imagesPerGroup }
  /// One ciphertext per kernel position.
  public var ciphertextsPerGroup: Int { windows.kernelPositions }

  public var layoutDescription: LayoutDescription {
    LayoutDescription(
      kind: .imageBatch, samplesPerCiphertext: samplesPerCiphertext, ciphertextsPerGroup: ciphertextsPerGroup,
      sampleStride: 1, resultOffset: 0, classStride: imagesPerGroup, image: geometry)
  }

  /// - Throws: `EncodingError.tooManyValues` for more than ``imagesPerGroup`` images.
  /// - Precondition: every image has `side²` pixels.
  public func encode(_ samples: [[Double]], with encoder: CKKSEncoder, scale: Double, level: Int)
    throws(EncodingError) -> [Plaintext]
  {
    guard samples.count <= imagesPerGroup else {
      throw .tooManyValues(count: samples.count, capacity: imagesPerGroup)
    }
    var plaintexts: [Plaintext] = []
    for slots in kernelPositionSlots(samples) {
      plaintexts.append(try encoder.encode(slots, scale: scale, level: level))
    }
    return plaintexts
  }

  public func scores(in plaintext: Plaintext, with encoder: CKKSEncoder, count: Int) -> [[Double]] {
    let slots = encoder.decode(plaintext)
    let b = imagesPerGroup
    return (0..<min(count, b)).map { j in (0..<outputDimension).map { slots[$0 * b + j] } }
  }
}
