import Foundation
import HWLabelCore
import HWLabelService
import HWLabelTestSupport
import Synchronization
import Testing
@testable import HWLabelProbe

/// The inventory is written as it is encoded, never held whole: the digest, which sorts before
/// the functions it covers, goes out as a placeholder and is written over at the end.
@Suite("Inventory: streamed encoding and the digest written in place")
struct InventoryStreamTests {
    static let procfs = ProbeTestSupport.fixtures + "/sysfs/procfs-renoir-e810-vega10/sys"

    static func document() throws -> InventoryDocument {
        let s = try Probe().snapshot(.sysfs(root: procfs))
        let set = DescriptorBuilder().descriptors(snapshot: s, labels: LabelSet(), policy: Policy())
        return InventoryDocument(snapshot: s, descriptors: set.descriptors, generatedAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test("streamed pieces with the digest patched in are the one-array bytes, pretty and compact", arguments: [true, false])
    func streamedEqualsWhole(pretty: Bool) throws {
        var whole = try Self.document()
        let expected = try whole.encodeJSON(pretty: pretty, splitAt: Int.max)
        // The pieces (the sliced arrays, `iommu` cut around its groups) make what Codable makes
        // of the whole document.
        let codable = try CanonicalJSON.encode(whole)
        #expect(whole.iommu.groups.count >= 2)
        #expect(String(decoding: expected, as: UTF8.self) == String(decoding: pretty ? PrettyJSON.format(codable) : codable, as: UTF8.self))
        for sliceElements in [1, 3, 64] {
            var doc = try Self.document()
            var out: [UInt8] = []
            var pieces = 0
            let patch = try doc.stream(pretty: pretty, splitAt: 1, sliceElements: sliceElements) {
                out.append(contentsOf: $0)
                pieces += 1
            }
            // The stream carries zeros where the digits go, and only there.
            let placeholder = Array(("\"sha256:" + String(repeating: "0", count: 64) + "\"").utf8)
            #expect(Array(out[(patch.offset - 8)..<(patch.offset + 65)]) == placeholder)
            #expect(out != expected)
            out.replaceSubrange(patch.offset..<(patch.offset + 64), with: patch.hexDigits)
            #expect(out == expected, "slices of \(sliceElements)")
            #expect(doc.digest == whole.digest && "sha256:" + String(decoding: patch.hexDigits, as: UTF8.self) == doc.digest)
            #expect(pieces > 20)
        }
    }

    @Test("the table's digest (hashed, nothing written) is the JSON's")
    func hashOnly() throws {
        var a = try Self.document()
        var b = try Self.document()
        _ = try a.stream(pretty: false) { _ in }
        _ = try b.encodeJSON(pretty: true)
        #expect(a.digest == b.digest && a.digest.count == 71)
    }

    @Test("Parallel.ordered: every value consumed once, in index order, never more than the window ahead")
    func orderedWindow() {
        for window in [1, 2, 5] {
            let produced = Atomic<Int>(0)
            let maxAhead = Atomic<Int>(0)
            let consumedSoFar = Atomic<Int>(0)
            var seen: [Int] = []
            Parallel.ordered(
                200, window: window,
                produce: { i in
                    let ahead =
                        produced.add(1, ordering: .sequentiallyConsistent).newValue
                        - consumedSoFar.load(ordering: .sequentiallyConsistent)
                    _ = maxAhead.max(ahead, ordering: .sequentiallyConsistent)
                    return i * i
                },
                consume: { i, v in
                    #expect(v == i * i)
                    seen.append(i)
                    consumedSoFar.add(1, ordering: .sequentiallyConsistent)
                })
            #expect(seen == Array(0..<200))
            // Produced but not yet consumed: the window, plus the one being handed over.
            #expect(maxAhead.load(ordering: .sequentiallyConsistent) <= window + 1, "window \(window)")
        }
    }

    @Test("-o FILE, standard output to a file and to a pipe give the same bytes")
    func destinationsAgree() throws {
        let bin = try ProbeTestSupport.hwlabelBinary()
        let dir = try ProbeTestSupport.makeTemp("stream")
        defer { ProbeTestSupport.removeTemp(dir) }
        let args = ["inventory", "--sysfs-root", Self.procfs, "--format", "json"]
        let file = try ProbeTestSupport.run(bin, args + ["-o", dir + "/inventory.json"])
        #expect(file.status == 0, "\(file.stderr)")
        let toFile = try Data(contentsOf: URL(fileURLWithPath: dir + "/inventory.json"))
        // ProbeTestSupport.run sends standard output to a regular file.
        let redirected = try ProbeTestSupport.run(bin, args)
        #expect(redirected.status == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let piped = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        // Only generatedAt differs between runs.
        func blanked(_ d: Data) -> String {
            String(decoding: d, as: UTF8.self).replacing(/"generatedAt" : "[^"]*"/, with: "\"generatedAt\" : \"\"")
        }
        #expect(blanked(toFile) == blanked(redirected.stdoutData))
        #expect(blanked(toFile) == blanked(piped))
        let doc = try JSONSerialization.jsonObject(with: toFile) as! [String: Any]
        #expect((doc["digest"] as? String)?.hasPrefix("sha256:") == true)
        #expect(!(doc["digest"] as! String).hasSuffix(String(repeating: "0", count: 16)))
    }
}
