import CKKS
import Foundation

let n = Int(CommandLine.arguments.dropFirst().first ?? "8192")!
let primes = try Primes.sealCoefficientModulus(degree: n, bitSizes: [60])
let tables = try NTTTables(degree: n, modulus: Modulus(primes[0]))
var data = (0..<n).map { UInt64($0) &* 0x9E3779B97F4A7C15 % primes[0] }
let orig = data
let iterations = 3000
@MainActor func time(_ label: String, _ body: (UnsafeMutablePointer<UInt64>) -> Void) {
  data.withUnsafeMutableBufferPointer { buf in
    for _ in 0..<300 { body(buf.baseAddress!) }
    var best = Double.infinity
    for _ in 0..<30 {
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in 0..<100 { body(buf.baseAddress!) }
      let end = DispatchTime.now().uptimeNanoseconds
      best = min(best, Double(end - start) / 100 / 1000)
    }
    print(label, best, "us")
  }
}
data = orig
let a = tables.forward(orig)
var b = orig; b.withUnsafeMutableBufferPointer { tables.forward($0.baseAddress!) }
print("radix4 agrees:", a == b)
time("forward r2") { tables.forward($0) }

time("inverse") { tables.inverse($0) }
