public import CKKS

/// One image per ciphertext, cut into the windows of a convolution (im2col, as TenSEAL's
/// encrypted-convolution tutorial encodes it): with W windows (padded to a power of two w) and K²
/// kernel positions, slot `k·w + p` holds the pixel at kernel position k of window p. A
/// convolution channel is then Σ_k weight_k · block_k, a linear map whose nonzero diagonals are
/// the multiples of w: a few rotations, however large the kernel. The scores come back in the
/// first coefficients of the result (class c in coefficient c), so that its other coefficients
/// need little precision and the result shrinks for decryption.
public struct ImageWindowsLayout: Sendable, Equatable {
  public let slotCount: Int
  public let geometry: LayoutDescription.ImageGeometry
  public let outputDimension: Int

  public init(slotCount: Int, geometry: LayoutDescription.ImageGeometry, outputDimension: Int) {
    self.slotCount = slotCount
    self.geometry = geometry
    self.outputDimension = outputDimension
  }

  /// Windows per side: ⌊(side − kernel) / stride⌋ + 1.
  public var positionsPerSide: Int { (geometry.side - geometry.kernel) / geometry.stride + 1 }
  /// W, the number of windows (row by row).
  public var windowCount: Int { positionsPerSide * positionsPerSide }
  /// w: W padded to a power of two, the distance between kernel positions' blocks.
  public var windowStride: Int { Self.powerOfTwo(atLeast: windowCount) }
  /// K², the kernel positions (row by row within the window).
  public var kernelPositions: Int { geometry.kernel * geometry.kernel }
  /// Slots the windows take: K² padded to a power of two, times w.
  public var usedSlots: Int { Self.powerOfTwo(atLeast: kernelPositions) * windowStride }

  /// The pixel index (row-major in the image) of kernel position k of window p.
  public func pixel(window p: Int, position k: Int) -> Int {
    let (row, column) = (p / positionsPerSide, p % positionsPerSide)
    let (dy, dx) = (k / geometry.kernel, k % geometry.kernel)
    return (row * geometry.stride + dy) * geometry.side + column * geometry.stride + dx
  }

  /// The slot vector of one image (`side²` pixels, row by row), its windows repeated every
  /// ``usedSlots`` slots (programs read it as a vector of that period).
  public func windowSlots(_ image: [Double]) -> [Double] {
    precondition(image.count == geometry.side * geometry.side)
    var slots = [Double](repeating: 0, count: slotCount)
    for copy in stride(from: 0, to: slotCount, by: usedSlots) {
      for k in 0..<kernelPositions {
        for p in 0..<windowCount { slots[copy + k * windowStride + p] = image[pixel(window: p, position: k)] }
      }
    }
    return slots
  }

  static func powerOfTwo(atLeast value: Int) -> Int {
    var result = 1
    while result < value { result *= 2 }
    return result
  }
}

extension ImageWindowsLayout: SampleLayout {
  public var inputDimension: Int { geometry.side * geometry.side }
  /// One image, when its windows fit the slots (0 otherwise).
  public var samplesPerCiphertext: Int {
    geometry.kernel >= 1 && geometry.stride >= 1 && geometry.side >= geometry.kernel && usedSlots <= slotCount ? 1 : 0
  }

  public var layoutDescription: LayoutDescription {
    LayoutDescription(
      kind: .imageWindows, samplesPerCiphertext: samplesPerCiphertext, sampleStride: slotCount, resultOffset: 0,
      classStride: 1, image: geometry)
  }

  public func encode(_ samples: [[Double]], with encoder: CKKSEncoder, scale: Double, level: Int)
    throws(EncodingError) -> [Plaintext]
  {
    precondition(samples.count == 1, "one image per ciphertext")
    return [try encoder.encode(windowSlots(samples[0]), scale: scale, level: level)]
  }

  public func scores(in plaintext: Plaintext, with encoder: CKKSEncoder, count: Int) -> [[Double]] {
    count == 0 ? [] : [Array(encoder.decodeCoefficients(plaintext).prefix(outputDimension))]
  }
}
