import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelCore

/// `hwlabel check --request FILE` reads its JSON strictly: unknown keys, wrong types, bad syntax
/// and unusable files are input errors (exit 2) that say where the problem is.
@Suite("check request parsing")
struct CheckRequestParsingTests {
    private func parseError(_ json: String) -> RequestError? {
        parseError(Data(json.utf8))
    }

    private func parseError(_ data: Data) -> RequestError? {
        do {
            _ = try CheckRequest(json: data)
            return nil
        } catch {
            return error
        }
    }

    static let deviceKeys = "(expected label, vendor, device, subsystemVendor, subsystemDevice, count)"
    static let topKeys = "(expected devices, vgpu, nested)"

    @Test(
        "an unknown key at any level is named with where it is and the nearest known key",
        arguments: [
            (#"{"Nested": true}"#, #"top level: unknown key "Nested" \#(topKeys); did you mean "nested"?"#),
            (#"{"vgpus": []}"#, #"top level: unknown key "vgpus" \#(topKeys); did you mean "vgpu"?"#),
            (#"{"device": []}"#, #"top level: unknown key "device" \#(topKeys); did you mean "devices"?"#),
            (#"{"nested": true, "comment": "x"}"#, #"top level: unknown key "comment" \#(topKeys)"#),
            (
                #"{"devices": [{"label": "A"}, {"label": "X", "cnt": 5}]}"#,
                #"devices[1]: unknown key "cnt" \#(deviceKeys); did you mean "count"?"#
            ),
            (
                #"{"devices": [{"vendor": "10de", "device": "1e30", "SubsystemVendor": "10de"}]}"#,
                #"devices[0]: unknown key "SubsystemVendor" \#(deviceKeys); did you mean "subsystemVendor"?"#
            ),
            (#"{"devices": [{"label": "A", "profile": "x"}]}"#, #"devices[0]: unknown key "profile" \#(deviceKeys)"#),
            (
                #"{"vgpu": [{"profile": "GRID T4-4Q"}, {"profil": "GRID T4-4Q"}]}"#,
                #"vgpu[1]: unknown key "profil" (expected profile, count); did you mean "profile"?"#
            ),
            (#"{"vgpu": [{"profile": "GRID T4-4Q", "label": "x"}]}"#, #"vgpu[0]: unknown key "label" (expected profile, count)"#),
        ])
    func unknownKey(_ json: String, _ message: String) throws {
        let e = try #require(parseError(json))
        #expect(e.message == message)
        #expect(e.kind == .invalid)
        #expect(e.description == "invalid request: " + message)
    }

    @Test(
        "a value of the wrong type names its key path and the expected type",
        arguments: [
            (#"{"devices": [{"label": "X", "count": "5"}]}"#, #"devices[0].count: expected an integer, got a string ("5")"#),
            (#"{"devices": [{"label": "X", "count": 1.5}]}"#, "devices[0].count: expected an integer, got a number (1.5)"),
            (#"{"devices": [{"label": "X", "count": true}]}"#, "devices[0].count: expected an integer, got true"),
            (#"{"nested": "yes"}"#, #"nested: expected true or false, got a string ("yes")"#),
            (#"{"nested": 1}"#, "nested: expected true or false, got a number (1)"),
            (#"{"devices": {}}"#, "devices: expected an array, got an object"),
            (#"{"devices": [{"label": "A"}, "10de:1e30"]}"#, #"devices[1]: expected an object, got a string ("10de:1e30")"#),
            (#"{"devices": [{"vendor": 4318, "device": "1e30"}]}"#, "devices[0].vendor: expected a string, got a number (4318)"),
            (#"{"vgpu": "GRID T4-4Q"}"#, #"vgpu: expected an array, got a string ("GRID T4-4Q")"#),
            (#"{"vgpu": [{"profile": ["a"]}]}"#, "vgpu[0].profile: expected a string, got an array"),
            (#"{"vgpu": [{"profile": null}]}"#, "vgpu[0].profile: expected a string, got null"),
            (#"{"vgpu": [{"count": 1}]}"#, #"vgpu[0]: missing key "profile""#),
            (#"[{"label": "X"}]"#, "top level: expected an object, got an array"),
            ("5", "top level: expected an object, got a number (5)"),
        ])
    func wrongType(_ json: String, _ message: String) throws {
        let e = try #require(parseError(json))
        #expect(e.message == message)
    }

    @Test(
        "invalid JSON names the line and column (characters, 1-based)",
        arguments: [
            ("{\"nested\": tru, \"devices\": []}", 1, 15, "invalid value"),
            ("{\n  \"devices\": [\n    {\"label\": \"Turing GPU\" \"count\": 2}\n  ]\n}", 3, 28, "invalid value"),
            // é is two bytes: the column counts characters, Foundation's offset counts bytes.
            ("{\"devices\": [\n {\"label\": \"é\", \"count\": x}]}", 2, 26, "invalid value"),
            ("{\"nested\": true", 1, 16, "unexpected end of file during JSON parse"),
            ("{\"devices\": [{\"label\": \"X}]}", 1, 29, "unexpected end of file during JSON parse"),
            ("", 1, 1, "unexpected end of file during JSON parse"),
            ("{\"nested\": true}\n}", 2, 1, "invalid value"),
            ("{\"devices\": [{\"label\": \"a\u{1}b\"}]}", 1, 26, "unescaped control character"),
            // Foundation points past the zero, at the digit that may not follow it.
            ("{\"devices\": [{\"count\": 01}]}", 1, 25, "number with leading zero"),
        ])
    func invalidJSON(_ json: String, _ line: Int, _ column: Int, _ reason: String) throws {
        let e = try #require(parseError(json))
        #expect(e.message == "not valid JSON at line \(line), column \(column): \(reason)")
    }

    @Test("bytes that are not UTF-8 are named with their line and column")
    func notUTF8() throws {
        var bytes = Array("{\n \"devices\": [{\"label\": \"".utf8)
        bytes += [0xFF, 0x22, 0x7D, 0x5D, 0x7D]
        let e = try #require(parseError(Data(bytes)))
        #expect(e.message == "not valid JSON at line 2, column 25: not UTF-8 text")
    }

    @Test(
        "byte offset to line and column",
        arguments: [
            ("abc", 0, 1, 1), ("abc", 2, 1, 3), ("a\nbc", 2, 2, 1), ("a\nbc", 3, 2, 2),
            ("a\n\n", 3, 3, 1), ("é\u{1F600}x", 6, 1, 3), ("é\u{1F600}x", 7, 1, 4), ("ab", 99, 1, 3),
        ])
    func lineAndColumn(_ text: String, _ offset: Int, _ line: Int, _ column: Int) {
        let r = CheckRequest.lineAndColumn(ofByte: offset, in: Data(text.utf8))
        #expect(r.line == line && r.column == column, "\(r)")
    }

    @Test(
        "a valid request decodes to the same CheckRequest as the plain decoder gives",
        arguments: [
            #"{"devices":[{"label":"Turing GPU","count":2}],"nested":true}"#,
            #"{"devices":[{"vendor":"10DE","device":"1e30","subsystemVendor":"10de","subsystemDevice":"13D9"}]}"#,
            #"{"devices": [{"label": "Turing GPU", "count": 2}, {"vendor": "10de", "device": "1e30", "subsystemVendor": "10de", "subsystemDevice": "13d9"}], "vgpu": [{"profile": "GRID T4-4Q", "count": 1}], "nested": false}"#,
            #"{"vgpu":[{"profile":"nvidia-222"}]}"#,
            #"{"devices":null,"vgpu":[{"profile":"nvidia-222","count":null}],"nested":null}"#,
            #"{"nested":true,"devices":[],"vgpu":[]}"#,
            "\u{FEFF}{\"nested\": true}",
        ])
    func validRequest(_ json: String) throws {
        let strict = try CheckRequest(json: Data(json.utf8))
        let plain = try JSONDecoder().decode(CheckRequest.self, from: Data(json.utf8))
        #expect(strict == plain)
        try strict.validate()
    }

    @Test("the documented example decodes to the request it describes")
    func documentedExample() throws {
        let json = #"""
            {"devices": [{"label": "Turing GPU", "count": 2},
                         {"vendor": "10de", "device": "1e30", "subsystemVendor": "10de", "subsystemDevice": "13d9"}],
             "vgpu": [{"profile": "GRID T4-4Q", "count": 1}],
             "nested": false}
            """#
        let r = try CheckRequest(json: Data(json.utf8))
        #expect(
            r
                == CheckRequest(
                    devices: [
                        DeviceRequest(label: "Turing GPU", count: 2),
                        DeviceRequest(vendor: "10de", device: "1e30", subsystemVendor: "10de", subsystemDevice: "13d9"),
                    ],
                    vgpu: [VGPURequest(profile: "GRID T4-4Q", count: 1)], nested: false))
    }

    @Test(
        "semantic errors speak of the request, not of a rule",
        arguments: [
            (#"{}"#, "the request asks for nothing (give devices, vgpu or nested)"),
            (#"{"devices":[{"label":"X","count":0}]}"#, #"count must be ≥ 1 in 0 × label "X""#),
            (
                #"{"devices":[{"label":"Turing GPU","vendor":"10de","device":"1eb8"}]}"#,
                "a device request names a label or an attribute tuple, not both"
            ),
            (
                #"{"devices":[{"vendor":"10de","device":"1e30","subsystemVendor":"10de"}]}"#,
                "give both subsystemVendor and subsystemDevice, or neither"
            ),
            (#"{"devices":[{"subsystemVendor":"10de","subsystemDevice":"13d9"}]}"#, "a device request needs a label or vendor and device"),
            (#"{"devices":[{"vendor":"10dex","device":"1e30"}]}"#, "invalid vendor ID (4 hex digits): 10dex"),
            (#"{"vgpu":[{"profile":"","count":1}]}"#, "vgpu entries need a profile name and a count ≥ 1"),
            (#"{"vgpu":[{"profile":"GRID T4-4Q","count":0}]}"#, "vgpu entries need a profile name and a count ≥ 1"),
        ])
    func semanticError(_ json: String, _ message: String) throws {
        let r = try CheckRequest(json: Data(json.utf8))
        do {
            try r.validate()
            Issue.record("validate() accepted \(json)")
        } catch {
            #expect(error.message == message)
            #expect(error.description == "invalid request: " + message)
            #expect(!error.description.contains("rule"))
        }
    }

    @Test("the file name leads the message; stdin is called stdin")
    func description() {
        #expect(RequestError("nested: x", file: "/tmp/r.json").description == "/tmp/r.json: invalid request: nested: x")
        #expect(RequestError("is odd", kind: .unreadable, file: "-").description == "stdin: cannot read the request: is odd")
    }
}

/// The CLI end to end: exit 2 and the message on stderr; a good request answers as flags do.
@Suite("check --request from the command line")
struct CheckRequestCLITests {
    static let sysfs = ProbeTestSupport.fixtures + "/sysfs/ghw-kvm-guest-tesla-p100/sys"

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// `hwlabel check ARGS --sysfs-root <fixture> --config-dir <empty>`, killed after `timeout`
    /// seconds so a check that blocks (on a FIFO) fails the test instead of hanging the suite.
    static func check(_ args: [String], in dir: String, timeout: Double = 20) throws -> Run {
        let config = dir + "/config"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        let out = dir + "/stdout", err = dir + "/stderr"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ProbeTestSupport.hwlabelBinary())
        p.arguments = ["check"] + args + ["--sysfs-root", sysfs, "--config-dir", config]
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        let timedOut = p.isRunning
        if timedOut { p.terminate() }
        p.waitUntilExit()
        return Run(
            status: p.terminationStatus,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
            timedOut: timedOut)
    }

    /// The error line among the probe's warnings about the fixture.
    static func errorLine(_ r: Run) -> String? {
        r.stderr.split(separator: "\n").first { $0.hasPrefix("hwlabel: error: ") }.map(String.init)
    }

    @Test("an unknown key: exit 2, the file, the key path and the suggestion")
    func unknownKey() throws {
        let dir = try ProbeTestSupport.makeTemp("check-request")
        defer { ProbeTestSupport.removeTemp(dir) }
        let file = dir + "/request.json"
        try #"{"devices": [{"label": "Turing GPU"}, {"label": "X", "cnt": 5}]}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Self.check(["--request", file], in: dir)
        #expect(r.status == 2)
        #expect(
            Self.errorLine(r) == "hwlabel: error: \(file): invalid request: devices[1]: unknown key \"cnt\" "
                + "(expected label, vendor, device, subsystemVendor, subsystemDevice, count); did you mean \"count\"?")
        #expect(r.stdout.isEmpty)
    }

    @Test("invalid JSON and a semantic error: exit 2 with line/column or the request's fault")
    func invalidContent() throws {
        let dir = try ProbeTestSupport.makeTemp("check-request")
        defer { ProbeTestSupport.removeTemp(dir) }
        let file = dir + "/request.json"
        try "{\n  \"nested\": yes\n}\n".write(toFile: file, atomically: true, encoding: .utf8)
        var r = try Self.check(["--request", file], in: dir)
        #expect(r.status == 2)
        #expect(Self.errorLine(r) == "hwlabel: error: \(file): invalid request: not valid JSON at line 2, column 13: invalid value")
        try #"{"devices": [{"label": "X", "count": 0}]}"#.write(toFile: file, atomically: true, encoding: .utf8)
        r = try Self.check(["--request", file], in: dir)
        #expect(r.status == 2)
        #expect(Self.errorLine(r) == "hwlabel: error: \(file): invalid request: count must be ≥ 1 in 0 × label \"X\"")
        r = try Self.check(["--label", "X", "--count", "0"], in: dir)
        #expect(r.status == 2)
        #expect(Self.errorLine(r) == "hwlabel: error: invalid request: count must be ≥ 1 in 0 × label \"X\"")
    }

    @Test("a directory, a FIFO, a missing file, a file over 1 MiB: exit 2 naming the file, never blocking")
    func notARequestFile() throws {
        let dir = try ProbeTestSupport.makeTemp("check-request")
        defer { ProbeTestSupport.removeTemp(dir) }
        let fifo = dir + "/fifo.json", big = dir + "/big.json", missing = dir + "/missing.json"
        #expect(mkfifo(fifo, 0o600) == 0)
        try Data(repeating: 0x20, count: (1 << 20) + 1).write(to: URL(fileURLWithPath: big))
        let cases = [
            (dir, "\(dir): cannot read the request: not a regular file (a directory)"),
            (fifo, "\(fifo): cannot read the request: not a regular file (a FIFO)"),
            (missing, "\(missing): cannot read the request: No such file or directory (errno 2)"),
            (big, "\(big): cannot read the request: too large: 1048577 bytes (a request file is at most 1 MiB, 1048576 bytes)"),
        ]
        for (path, message) in cases {
            let r = try Self.check(["--request", path], in: dir, timeout: 10)
            #expect(!r.timedOut, "check blocked on \(path)")
            #expect(r.status == 2, "\(path)")
            #expect(Self.errorLine(r) == "hwlabel: error: " + message)
        }
    }

    @Test("an unreadable file: exit 2 with the errno", .enabled(if: getuid() != 0, "root reads a mode-000 file"))
    func unreadable() throws {
        let dir = try ProbeTestSupport.makeTemp("check-request")
        defer { ProbeTestSupport.removeTemp(dir) }
        let file = dir + "/request.json"
        try #"{"nested": true}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(chmod(file, 0) == 0)
        let r = try Self.check(["--request", file], in: dir)
        #expect(r.status == 2)
        #expect(Self.errorLine(r) == "hwlabel: error: \(file): cannot read the request: Permission denied (errno 13)")
    }

    @Test("a valid request answers exactly as the same request given by flags (--format json)")
    func validRequestMatchesFlags() throws {
        let dir = try ProbeTestSupport.makeTemp("check-request")
        defer { ProbeTestSupport.removeTemp(dir) }
        let file = dir + "/request.json"
        try #"{"devices": [{"vendor": "8086", "device": "29C0"}], "nested": false}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try Self.check(["--request", file, "--format", "json"], in: dir)
        let fromFlags = try Self.check(["--device", "8086:29c0", "--format", "json"], in: dir)
        #expect(fromFile.status == 0 || fromFile.status == 1)
        #expect(fromFile.status == fromFlags.status)
        #expect(fromFile.stdout == fromFlags.stdout)
        #expect(fromFile.stdout.contains("\"schemaVersion\" : \"1.0\""))
        #expect(Self.errorLine(fromFile) == nil)
    }
}
