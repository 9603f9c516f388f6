import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Issue 12, `--pci-dump`: dumps come from tickets and editors. libpci's dump reader aborts
/// on one long or NUL-carrying line, takes impossible addresses and lists a block twice; the
/// scanner hands it a clean copy, so one bad line costs one function at most, and every drop is
/// named with its line.
@Suite("Probe: hostile lspci dumps")
struct ProbeHostileDumpTests {
    static let fsl = ProbeTestSupport.fixtures + "/lspci/pciutils-tests__tree-fsl-p2020.lspci"
    /// `lspci -vvxxx`: text lines between each header and its hex lines.
    static let verbose = ProbeTestSupport.fixtures + "/lspci/arm-n1sdp-plx-pex8749-switch.lspci-vvxxx"

    static func lines(_ path: String) throws -> [String] {
        var l = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        if l.last == "" { l.removeLast() }
        return l
    }

    static func headerIndices(_ lines: [String]) -> [Int] {
        lines.indices.filter { PCIAddress(lines[$0].split(separator: " ").first ?? "") != nil }
    }

    /// Writes `bytes` as a dump in a fresh directory; returns its path (the caller removes `dir`).
    static func write(_ bytes: [UInt8], in dir: String, name: String = "hostile.lspci") throws -> String {
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func write(_ lines: [String], in dir: String) throws -> String {
        try write(Array((lines.joined(separator: "\n") + "\n").utf8), in: dir)
    }

    /// `inventory --pci-dump FILE --format json`, with a deadline.
    static func inventory(_ file: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ProbeHostileSysfsTests.Run {
        let r = try ProbeHostileSysfsTests.hwlabel(["inventory", "--pci-dump", file, "--format", "json"])
        #expect(!r.timedOut && !r.signalled, "hung or killed: \(r.stderr.suffix(300))", sourceLocation: sourceLocation)
        return r
    }

    static func warnedLine(_ s: Snapshot, _ file: String, _ line: Int, _ words: String) -> Bool {
        s.warnings.contains { $0.message.contains("\(file):\(line):") && $0.message.contains(words) }
    }

    // MARK: line ends

    /// Today: a CRLF `lspci -x` dump gave 0 functions and exit 0 (Swift splits "\r\n" as one
    /// Character). Every fixture must read the same with CRLF as with LF.
    @Test("CRLF dumps read exactly like LF ones", arguments: ProbeTestSupport.fixtureNames("lspci"))
    func crlf(_ name: String) throws {
        let src = ProbeTestSupport.fixtures + "/lspci/" + name
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        let lf = try Probe().snapshot(.dump(file: src))
        let data = try String(contentsOfFile: src, encoding: .utf8).replacingOccurrences(of: "\n", with: "\r\n")
        let file = try Self.write(Array(data.utf8), in: dir)
        let s = try Probe().snapshot(.dump(file: file))
        #expect(!lf.functions.isEmpty)
        #expect(s.functions == lf.functions)
        #expect(s.warnings.map { $0.message.replacingOccurrences(of: file, with: src) } == lf.warnings.map(\.message))
    }

    @Test("inventory CLI on a CRLF dump lists every function, exit 0")
    func crlfCLI() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        let lf = try Self.inventory(Self.fsl)
        let text = try String(contentsOfFile: Self.fsl, encoding: .utf8).replacingOccurrences(of: "\n", with: "\r\n")
        let r = try Self.inventory(try Self.write(Array(text.utf8), in: dir))
        #expect(r.status == 0)
        #expect(!r.addresses.isEmpty && r.addresses == lf.addresses)
        try SchemaValidator.validate(r.stdout, label: "CRLF dump")
    }

    @Test("a UTF-8 byte order mark does not hide the first device")
    func bom() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        let good = try Probe().snapshot(.dump(file: Self.fsl))
        let file = try Self.write([0xef, 0xbb, 0xbf] + Array(try Data(contentsOf: URL(fileURLWithPath: Self.fsl))), in: dir)
        #expect(try Probe().snapshot(.dump(file: file)).functions == good.functions)
    }

    // MARK: blocks

    /// Today: a block that appears twice was listed twice, two descriptors sharing one
    /// instance id, with no warning.
    @Test("a block that appears twice is listed once; the duplicate's line is named")
    func duplicateBlock() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        var lines = try Self.lines(Self.fsl)
        let h = Self.headerIndices(lines)
        let block = Array(lines[h[1]..<h[2]]) // the second device, its blank line included
        let dupLine = lines.count + 2
        lines += [""] + block
        let file = try Self.write(lines, in: dir)
        let good = try Probe().snapshot(.dump(file: Self.fsl))
        let s = try Probe().snapshot(.dump(file: file))
        #expect(s.functions == good.functions)
        let a = PCIAddress(lines[h[1]].split(separator: " ")[0])!
        #expect(
            s.warnings.contains {
                $0.address == a.description && $0.message.contains("\(file):\(dupLine):")
                    && $0.message.contains("first at line \(h[1] + 1)")
            }, "\(s.warnings)")
        let r = try Self.inventory(file)
        #expect(r.status == 0 && r.addresses == good.functions.map(\.address.description))
        let ids = (r.json?["descriptors"] as? [[String: Any]] ?? []).map { "\($0["instance"] ?? "")" }
        #expect(Set(ids).count == ids.count)
        try SchemaValidator.validate(r.stdout, label: "duplicate block")
    }

    /// Today: `00:25.0` and `00:03.8` headers were emitted as schema-violating addresses.
    @Test(
        "a header with device over 1f or function over 7 is dropped with its line named",
        arguments: ["25.0", "ff.0", "03.8", "03.9"])
    func impossibleAddress(_ devFn: String) throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        var lines = try Self.lines(Self.fsl)
        let h = Self.headerIndices(lines)
        let old = PCIAddress(lines[h[1]].split(separator: " ")[0])!
        let bus = String(format: "%02x", old.bus)
        lines[h[1]] = "\(bus):\(devFn)" + lines[h[1]].drop { $0 != " " }
        let file = try Self.write(lines, in: dir)
        let good = try Probe().snapshot(.dump(file: Self.fsl))
        let s = try Probe().snapshot(.dump(file: file))
        #expect(s.functions == good.functions.filter { $0.address != old })
        #expect(Self.warnedLine(s, file, h[1] + 1, "impossible address"), "\(s.warnings)")
        let r = try Self.inventory(file)
        #expect(r.status == 0)
        try SchemaValidator.validate(r.stdout, label: "impossible address")
    }

    @Test("a header whose domain libpci cannot read (over 5 hex digits) is named, the rest read")
    func wideDomain() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        var lines = try Self.lines(Self.fsl)
        let h = Self.headerIndices(lines)
        let old = PCIAddress(lines[h[1]].split(separator: " ")[0])!
        lines[h[1]] = "12345678:" + String(lines[h[1]].split(separator: " ")[0].suffix(7)) + lines[h[1]].drop { $0 != " " }
        let file = try Self.write(lines, in: dir)
        let good = try Probe().snapshot(.dump(file: Self.fsl))
        let s = try Probe().snapshot(.dump(file: file))
        #expect(s.functions == good.functions.filter { $0.address != old })
        #expect(Self.warnedLine(s, file, h[1] + 1, "at most 5 hex digits"), "\(s.warnings)")
    }

    /// A damaged header with no blank line above it: libpci would read its hex lines into the
    /// device before. Those bytes are no one's; the device before keeps its own.
    @Test("hex lines under a damaged header never overwrite the device above")
    func damagedHeaderNoBlank() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        var lines = try Self.lines(Self.fsl)
        // Blank lines gone (a pasted dump), then the third header garbled.
        lines = lines.filter { !$0.isEmpty }
        let h = Self.headerIndices(lines)
        // The last device: a leaf, so no other function's upstream bridge goes with it.
        let v = h[h.count - 1]
        let victim = PCIAddress(lines[v].split(separator: " ")[0])!
        lines[v] = "zz" + lines[v].dropFirst(2)
        let file = try Self.write(lines, in: dir)
        let good = try Probe().snapshot(.dump(file: Self.fsl))
        let s = try Probe().snapshot(.dump(file: file))
        #expect(s.functions.map(\.address) == good.functions.map(\.address).filter { $0 != victim })
        for f in s.functions { #expect(f == good.function(at: f.address), "\(f.address) changed") }
        #expect(
            s.warnings.contains { $0.message.contains("\(file):\(v + 2):") && $0.message.contains("header is missing") },
            "\(s.warnings)")
    }

    // MARK: bad bytes

    /// Today: a NUL byte in any line aborted the whole dump (libpci: "line too long or
    /// unterminated"), exit 3.
    @Test("a NUL byte in a text line costs that line only")
    func nulInText() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.verbose)))
        let lines = try Self.lines(Self.verbose)
        let n = try #require(lines.firstIndex { $0.hasPrefix("\t") })
        let offset = lines[..<n].reduce(0) { $0 + $1.utf8.count + 1 } + 5
        bytes.insert(0, at: offset)
        let file = try Self.write(bytes, in: dir)
        let good = try Probe().snapshot(.dump(file: Self.verbose))
        let s = try Probe().snapshot(.dump(file: file))
        #expect(s.functions == good.functions)
        #expect(Self.warnedLine(s, file, n + 1, "NUL"), "\(s.warnings)")
        let r = try Self.inventory(file)
        #expect(r.status == 0 && r.addresses == good.functions.map(\.address.description))
    }

    @Test("a NUL byte in a header's text or in a hex line costs one function at most", arguments: [true, false])
    func nulInHeaderOrHex(_ header: Bool) throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.fsl)))
        let lines = try Self.lines(Self.fsl)
        let h = Self.headerIndices(lines)
        let n = header ? h[1] : h[1] + 3
        bytes.insert(0, at: lines[..<n].reduce(0) { $0 + $1.utf8.count + 1 } + 20)
        let file = try Self.write(bytes, in: dir)
        let good = try Probe().snapshot(.dump(file: Self.fsl))
        let s = try Probe().snapshot(.dump(file: file))
        let hit = PCIAddress(lines[h[1]].split(separator: " ")[0])!
        #expect(s.functions.filter { $0.address != hit } == good.functions.filter { $0.address != hit })
        if header { #expect(s.functions == good.functions) } else { #expect(Self.warnedLine(s, file, n + 1, "malformed")) }
    }

    @Test("a header line over libpci's 254 bytes keeps its function")
    func longHeader() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        var lines = try Self.lines(Self.fsl)
        let h = Self.headerIndices(lines)
        lines[h[1]] += String(repeating: " x", count: 400)
        let file = try Self.write(lines, in: dir)
        #expect(try Probe().snapshot(.dump(file: file)).functions == (try Probe().snapshot(.dump(file: Self.fsl)).functions))
    }

    @Test("an empty dump, or one of garbage, lists nothing and says so")
    func noDevices() throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        for content in [[], Array("hello\n00: 86 80\n\u{0}\u{1}".utf8)] as [[UInt8]] {
            let file = try Self.write(content, in: dir)
            let s = try Probe().snapshot(.dump(file: file))
            #expect(s.functions.isEmpty)
            #expect(s.warnings.contains { $0.message.contains("no device header lines") }, "\(s.warnings)")
        }
    }

    // MARK: not a file

    enum NotAFile: String, CaseIterable, Sendable { case fifo, devZero, directory }

    /// Today: `--pci-dump FIFO` hung forever. It is refused by name, exit 3, at once.
    @Test("--pci-dump of a FIFO, /dev/zero or a directory: exit 3 naming it, no hang", arguments: NotAFile.allCases)
    func notAFile(_ kind: NotAFile) throws {
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        let file = dir + "/dump.lspci"
        switch kind {
        case .fifo: #expect(mkfifo(file, 0o644) == 0)
        case .devZero: #expect(symlink("/dev/zero", file) == 0)
        case .directory: #expect(mkdir(file, 0o755) == 0)
        }
        let r = try Self.inventory(file)
        #expect(r.status == 3)
        #expect(r.stderr.contains(file), "\(r.stderr)")
        let word = ["fifo": "FIFO", "devZero": "character device", "directory": "directory"][kind.rawValue]!
        #expect(r.stderr.contains(word), "\(r.stderr)")
    }
}
