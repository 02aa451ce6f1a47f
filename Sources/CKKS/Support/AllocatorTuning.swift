#if canImport(Glibc)
  import Glibc
#endif

/// Process-wide allocator settings for programs that run many homomorphic operations.
///
/// A ciphertext at N = 8192 with three primes is 384 KiB, and the allocating evaluator forms
/// create and free such buffers on every call. glibc's malloc serves blocks above its mmap
/// threshold (128 KiB until it adapts) with fresh mappings and returns freed heap tops to the
/// kernel, so every operation pays page faults and kernel zeroing for memory it just released
/// (docs/benchmarks.md measures the cost on a ciphertext multiplication).
/// Keeping large blocks in the heap removes that churn at the price of holding the peak
/// footprint. Executables (the gateway, the CLI, the benchmarks) opt in at start-up; the library
/// never changes allocator settings by itself.
public enum AllocatorTuning {
  /// Blocks up to this size (bytes) come from the heap instead of their own mapping (glibc's
  /// maximum for the setting on 64-bit systems).
  public static let mmapThreshold: Int32 = 32 << 20
  /// Free memory at the top of the heap is returned to the kernel only beyond this size (bytes).
  public static let trimThreshold: Int32 = 256 << 20

  /// Applies ``mmapThreshold`` and ``trimThreshold`` to glibc's malloc. Call once at start-up.
  /// - Returns: `true` when the settings were applied; `false` on other C libraries, where it
  ///   does nothing.
  @discardableResult
  public static func keepLargeBuffersInHeap() -> Bool {
    #if canImport(Glibc)
      // mallopt is declared in <malloc.h>, which the Glibc module does not export; look it up.
      typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
      guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "mallopt") else { return false }
      let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
      // <malloc.h>: M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3; mallopt returns 1 on success.
      let trimThresholdParameter: Int32 = -1
      let mmapThresholdParameter: Int32 = -3
      return mallopt(mmapThresholdParameter, mmapThreshold) == 1 && mallopt(trimThresholdParameter, trimThreshold) == 1
    #else
      return false
    #endif
  }
}
