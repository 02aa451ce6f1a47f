import Foundation
import TestSupport
import Testing

/// The examples in the README and the DocC catalogs are the files of `Snippets/`, which the test
/// command builds and runs; these checks keep the copies and references from drifting.
@Suite("Documentation")
struct DocumentationTests {
  @Test("The README's library example is Snippets/SchemeBasics.swift, line for line")
  func readmeExample() throws {
    let snippet = try Repository.text("Snippets/SchemeBasics.swift")
    let shown = try #require(
      snippet.components(separatedBy: "// snippet.show\n").last?.components(separatedBy: "// snippet.hide").first)
    #expect(shown.count > 200)
    #expect(try Repository.text("README.md").contains("import CKKS\n\n" + shown))
  }

  @Test("Every snippet a DocC catalog shows exists")
  func catalogSnippets() throws {
    var shown: [String] = []
    for catalog in [
      "Sources/CKKS/CKKS.docc/CKKS.md", "Sources/CKKS/CKKS.docc/LinearTransformations.md",
      "Sources/InferencePrograms/InferencePrograms.docc/InferencePrograms.md",
    ] {
      for part in try Repository.text(catalog).components(separatedBy: "@Snippet(path: \"").dropFirst() {
        let path = try #require(part.split(separator: "\"").first)
        let file = path.split(separator: "/").dropFirst().joined(separator: "/") + ".swift"
        #expect(path.hasPrefix("encrypted-inference-gateway/Snippets/"), "\(path)")
        #expect(FileManager.default.fileExists(atPath: Repository.url(file).path), "\(file)")
        shown.append(file)
      }
    }
    #expect(
      Set(shown)
        == ["Snippets/SchemeBasics.swift", "Snippets/LinearTransformation.swift", "Snippets/CustomModel.swift"])
  }
}
