import CKKS
import Testing

@Suite("Allocator tuning")
struct AllocatorTuningTests {
  @Test("glibc accepts the thresholds; other C libraries report that nothing changed")
  func appliesOnGlibc() {
    #if canImport(Glibc)
      #expect(AllocatorTuning.keepLargeBuffersInHeap())
    #else
      #expect(!AllocatorTuning.keepLargeBuffersInHeap())
    #endif
  }
}
