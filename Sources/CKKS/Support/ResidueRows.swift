// Scoped access to the storage of residue arrays for the hot loops: the pointers are valid only
// inside `body`, and no array is copied.

/// Runs `body` with the base addresses of four arrays' storage (no copies).
@inline(__always)
func withRows<R>(
  _ a: [UInt64], _ b: [UInt64], _ c: [UInt64], _ d: [UInt64],
  _ body: (UnsafePointer<UInt64>, UnsafePointer<UInt64>, UnsafePointer<UInt64>, UnsafePointer<UInt64>) -> R
) -> R {
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      c.withUnsafeBufferPointer { c in
        d.withUnsafeBufferPointer { d in body(a.baseAddress!, b.baseAddress!, c.baseAddress!, d.baseAddress!) }
      }
    }
  }
}

/// Runs `body` with the base addresses of three arrays' storage, writable (no copies).
@inline(__always)
func withMutableRows<R>(
  _ a: inout [UInt64], _ b: inout [UInt64], _ c: inout [UInt64],
  _ body: (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) -> R
) -> R {
  a.withUnsafeMutableBufferPointer { a in
    b.withUnsafeMutableBufferPointer { b in
      c.withUnsafeMutableBufferPointer { c in body(a.baseAddress!, b.baseAddress!, c.baseAddress!) }
    }
  }
}

/// Runs `body` with the base address of the storage of every array of `arrays`, in order, by
/// nesting their scopes (no copies). The table of addresses is temporary memory (on the stack for
/// the few arrays of a key switch or a linear combination); pass a lazy collection to allocate
/// nothing.
func withBaseAddresses<Arrays: Collection<[UInt64]>, R>(
  of arrays: Arrays, _ body: (UnsafeBufferPointer<UnsafePointer<UInt64>>) -> R
) -> R {
  withUnsafeTemporaryAllocation(of: UnsafePointer<UInt64>.self, capacity: arrays.count) { table in
    func collect(_ position: Int, _ index: Arrays.Index) -> R {
      guard index != arrays.endIndex else { return body(UnsafeBufferPointer(table)) }
      return arrays[index].withUnsafeBufferPointer { storage in
        table[position] = storage.baseAddress!
        return collect(position + 1, arrays.index(after: index))
      }
    }
    return collect(0, arrays.startIndex)
  }
}
