import Foundation
import Glibc
import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore
@testable import HWLabelService

/// Issue 12, files: every whole-file read goes through `BoundedFile`, which never blocks, never
/// allocates more than its limit and names the file in every error; config files read as they
/// look whatever their line ends; numbers from agent.conf are range-checked at load.
@Suite("Hostile input: files and configuration")
struct HostileFileTests {
    // MARK: BoundedFile

    @Test("a file up to the limit reads whole; one byte over is refused with path, size and limit")
    func limit() throws {
        let dir = try ProbeTestSupport.makeTemp("bounded")
        defer { ProbeTestSupport.removeTemp(dir) }
        let path = dir + "/f"
        try Data(repeating: 0x61, count: 100).write(to: URL(fileURLWithPath: path))
        #expect(try BoundedFile.read(path, limit: 100) == [UInt8](repeating: 0x61, count: 100))
        #expect(try BoundedFile.readText(path, limit: 1000) == String(repeating: "a", count: 100))
        #expect(throws: BoundedFile.Failure(path: path, reason: .tooLarge(size: 100, limit: 99))) {
            try BoundedFile.read(path, limit: 99)
        }
        let e = BoundedFile.Failure(path: path, reason: .tooLarge(size: 100, limit: 99))
        #expect(e.description == "cannot read \(path): 100 bytes is over the limit of 99 bytes (99 bytes)")
        // A sparse 17 MiB labels.conf is refused from its size, without reading it.
        let big = dir + "/labels.conf"
        _ = FileManager.default.createFile(atPath: big, contents: nil)
        #expect(truncate(big, 17 << 20) == 0)
        #expect(throws: BoundedFile.Failure(path: big, reason: .tooLarge(size: 17 << 20, limit: BoundedFile.Limit.labels))) {
            try BoundedFile.read(big, limit: BoundedFile.Limit.labels)
        }
    }

    @Test("FIFO, directory, character device and socket are refused at once, named with what they are")
    func notRegular() throws {
        let dir = try ProbeTestSupport.makeTemp("bounded")
        defer { ProbeTestSupport.removeTemp(dir) }
        try Hostile.mkfifo(dir + "/fifo")
        let sock = try Hostile.unixSocket(dir + "/sock")
        defer { close(sock) }
        symlink("/dev/zero", dir + "/zero")
        let cases = [
            (dir + "/fifo", "a FIFO"), (dir, "a directory"), ("/dev/zero", "a character device"),
            (dir + "/zero", "a character device"), ("/dev/urandom", "a character device"), (dir + "/sock", "a socket"),
        ]
        for (path, kind) in cases {
            let start = Date()
            do {
                _ = try BoundedFile.read(path, limit: 1 << 20)
                Issue.record("\(path) must be refused")
            } catch {
                #expect(error.reason == .notRegularFile(kind: kind), "\(path)")
                #expect(error.description == "cannot read \(path): it is \(kind), not a regular file")
            }
            #expect(Date().timeIntervalSince(start) < 2, "\(path) must not block")
        }
    }

    @Test("a missing file: nil from readIfPresent, a named errno error from read; /proc files read past their size 0")
    func missingAndProc() throws {
        #expect(try BoundedFile.readIfPresent("/nonexistent/hwlabel/x", limit: 10) == nil)
        #expect(throws: BoundedFile.Failure(path: "/nonexistent/hwlabel/x", reason: .system(call: "open", errno: ENOENT))) {
            try BoundedFile.read("/nonexistent/hwlabel/x", limit: 10)
        }
        #expect(
            BoundedFile.Failure(path: "/etc/hwlabel/labels.conf", reason: .system(call: "open", errno: EACCES)).description
                == "cannot read /etc/hwlabel/labels.conf: Permission denied (errno 13)")
        let status = try BoundedFile.readText("/proc/self/status", limit: 1 << 20)
        #expect(status.contains("Pid:"))
        #expect(throws: BoundedFile.Failure.self) { try BoundedFile.read("/proc/self/status", limit: 10) }
    }

    @Test("labels.conf or policy.conf that is /dev/zero, /dev/urandom or a FIFO: exit 2 at once, naming the file")
    func specialConfigFilesCLI() throws {
        let dir = try ProbeTestSupport.makeTemp("hostile-conf")
        defer { ProbeTestSupport.removeTemp(dir) }
        for (name, target, kind) in [
            ("labels.conf", "/dev/zero", "a character device"), ("policy.conf", "/dev/urandom", "a character device"),
            ("labels.conf", nil, "a FIFO"), ("policy.conf", nil, "a FIFO"),
        ] {
            let conf = dir + "/\(name)-\(kind.count)-\(target == nil)"
            try FileManager.default.createDirectory(atPath: conf, withIntermediateDirectories: true)
            if let target { symlink(target, conf + "/" + name) } else { try Hostile.mkfifo(conf + "/" + name) }
            let r = try Hostile.hwlabel(["label", "list", "--sysfs-root", Hostile.sysfs, "--config-dir", conf], timeout: 20)
            #expect(!r.timedOut && r.status == 2, "\(r.output)")
            #expect(r.stderr.contains("hwlabel: error: \(conf)/\(name): cannot read: it is \(kind), not a regular file"), "\(r.stderr)")
            // A writer does not wedge on it either, and the next one does not wait on a lock.
            for _ in 0..<2 {
                let w = try Hostile.hwlabel(
                    [
                        "label", "rule", "add", "--vendor", "8086", "Intel NIC",
                        "--sysfs-root", Hostile.sysfs, "--config-dir", conf,
                    ], timeout: 20)
                #expect(!w.timedOut && w.status == 2 && w.seconds < 15, "\(w.output)")
                #expect(w.stderr.contains("\(conf)/\(name): cannot read: it is \(kind)"), "\(w.stderr)")
            }
        }
    }

    @Test("a FIFO at the lock file is refused by name, not waited on")
    func fifoLock() throws {
        let dir = try ProbeTestSupport.makeTemp("hostile-lock")
        defer { ProbeTestSupport.removeTemp(dir) }
        let store = LabelStore(directory: dir, lockTimeout: 1)
        try Hostile.mkfifo(store.lockPath)
        do {
            try store.update { $0.setInstanceLabel(key: "slot:1", label: DeviceFixtures.label("X")) }
            Issue.record("a FIFO lock file must be refused")
        } catch let e as ConfigError {
            #expect(e.description == "\(store.lockPath): the lock file is a FIFO, not a regular file; remove it")
        }
    }

    // MARK: Line ends

    /// A file saved on Windows, starting with a comment, as in the issue.
    static func crlf(_ lines: [String]) -> String { lines.joined(separator: "\r\n") + "\r\n" }

    @Test("CRLF labels.conf starting with a comment: every rule and device label is read")
    func crlfLabels() throws {
        let text = Self.crlf([
            "# fleet labels", "rule vendor=8086 device=37c8 = QAT", "", "device slot:7 = Card Seven",
            "  # indented comment", "rule vendor=10de = Any NVIDIA",
        ])
        let doc = try LabelsDocument.parse(text, path: "labels.conf")
        #expect(doc.labelSet.rules.map(\.selector) == ["vendor=8086 device=37c8", "vendor=10de"])
        #expect(doc.labelSet.rules.map(\.label.name) == ["QAT", "Any NVIDIA"])
        #expect(doc.labelSet.instanceLabels == [InstanceLabel(key: "slot:7", label: DeviceFixtures.label("Card Seven"))])
        // The same with a byte order mark (Notepad) and without a final line end ("\r\n" is
        // one Character).
        let bom = try LabelsDocument.parse("\u{FEFF}" + String(text.dropLast()), path: "labels.conf")
        #expect(bom.labelSet == doc.labelSet)
    }

    @Test("CRLF policy.conf starting with a comment: exclusions and includes apply")
    func crlfPolicy() throws {
        let text = Self.crlf(["# policy", "exclude address=0000:3b:00.0", "include class=0880", "allowNestedWithPassthrough = true"])
        let p = try PolicyFormat.parse(text, path: "policy.conf")
        #expect(p.exclude == [.address(DeviceFixtures.addr("0000:3b:00.0"))])
        #expect(p.include == [.classPrefix("0880")])
        #expect(p.allowNestedWithPassthrough)
        let set = DeviceFixtures.descriptors(DeviceFixtures.snapshot([DeviceFixtures.t4, DeviceFixtures.rtx6000]), LabelSet(), p)
        #expect(set.descriptors.map(\.address) == [DeviceFixtures.addr("0000:5e:00.0")])
        #expect(set.excluded == [DeviceFixtures.addr("0000:3b:00.0")])
    }

    @Test("CRLF agent.conf starting with a comment: the controller sink and durations are read")
    func crlfAgentConfig() throws {
        let text = Self.crlf([
            "# hwlabel agent", "[agent]", "resync-interval = 10m", "[controller]",
            "url = https://ctl.example/v1/reports", "timeout = 3", "[nfd]", "dir = /tmp/features.d",
        ])
        let c = try AgentConfig.parse(text, path: "agent.conf")
        #expect(c.controller?.url == "https://ctl.example/v1/reports" && c.controller?.timeout == 3)
        #expect(c.resyncInterval == 600 && c.nfd?.directory == "/tmp/features.d")
    }

    @Test("CRLF labels.conf and policy.conf through the CLI: the rule labels, the excluded device is not offered")
    func crlfCLI() throws {
        let conf = try ProbeTestSupport.makeTemp("hostile-crlf")
        defer { ProbeTestSupport.removeTemp(conf) }
        try Self.crlf(["# labels", "rule vendor=8086 device=37c8 = QAT"]).write(
            toFile: conf + "/labels.conf", atomically: true, encoding: .utf8)
        let before = try Hostile.hwlabel(["label", "list", "--format", "json", "--sysfs-root", Hostile.sysfs, "--config-dir", conf])
        #expect(before.status == 0, "\(before.output)")
        #expect(before.stdout.contains("\"0000:3b:00.0\"") && before.stdout.contains("\"QAT\""), "\(before.stdout)")
        try Self.crlf(["# policy", "exclude address=0000:3b:00.0"]).write(toFile: conf + "/policy.conf", atomically: true, encoding: .utf8)
        let after = try Hostile.hwlabel(["label", "list", "--format", "json", "--sysfs-root", Hostile.sysfs, "--config-dir", conf])
        #expect(after.status == 0, "\(after.output)")
        #expect(!after.stdout.contains("\"0000:3b:00.0\""), "an excluded device is offered: \(after.stdout)")
    }

    @Test(
        "a lone CR or a control character inside a line is an error naming file:line",
        arguments: [
            (
                "labels.conf", "# x\nrule vendor=8086 = Intel\rNIC\n", 2,
                "carriage return (\\r) inside the line: lines end with \\n or \\r\\n"
            ),
            (
                "labels.conf", "rule vendor=8086 = Intel NIC\r\n\r\ndevice slot:1 = A\u{0}B\r\n", 3,
                "control character U+0000 in the line (only tab is allowed)"
            ),
            (
                "policy.conf", "# p\r\nexclude address=0000:3b:00.0\rinclude class=03\r\n", 2,
                "carriage return (\\r) inside the line: lines end with \\n or \\r\\n"
            ),
            ("policy.conf", "exclude device=8086:37c8\u{1B}\n", 1, "control character U+001B in the line (only tab is allowed)"),
        ])
    func loneCR(_ name: String, _ text: String, _ line: Int, _ message: String) throws {
        let dir = try ProbeTestSupport.makeTemp("hostile-cr")
        defer { ProbeTestSupport.removeTemp(dir) }
        let store = LabelStore(directory: dir)
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError(path: dir + "/" + name, line: line, message: message)) {
            if name == "labels.conf" { _ = try store.loadLabels() } else { _ = try store.loadPolicy() }
        }
        let r = try Hostile.hwlabel(["label", "list", "--sysfs-root", Hostile.sysfs, "--config-dir", dir])
        #expect(r.status == 2 && r.stderr.contains("hwlabel: error: \(dir)/\(name):\(line): \(message)"), "\(r.output)")
    }

    @Test("agent.conf: a lone CR is an error naming file:line")
    func agentConfLoneCR() {
        #expect(throws: AgentConfig.ParseError.self) {
            try AgentConfig.parse("[controller]\r\nurl = http://a/\rtimeout = 3\n", path: "a.conf")
        }
        do { _ = try AgentConfig.parse("# c\r\n[controller]\r\nurl = http://a/\rtimeout = 3\n", path: "a.conf") } catch {
            #expect(error.description == "a.conf:3: carriage return (\\r) inside the line: lines end with \\n or \\r\\n")
        }
    }

    // MARK: Numbers

    @Test(
        "agent.conf durations out of range or not plain numbers are refused with file, line, key and range",
        arguments: [
            (
                "[controller]\nurl = http://c/\ntimeout = inf\n", 3,
                "[controller] timeout: not a duration: 'inf' (allowed: 0.001 s to 3600 s"
            ),
            ("[controller]\nurl = http://c/\ntimeout = nan\n", 3, "[controller] timeout: not a duration: 'nan'"),
            ("[controller]\nurl = http://c/\ntimeout = 1e300\n", 3, "[controller] timeout: not a duration: '1e300'"),
            ("[controller]\nurl = http://c/\ntimeout = 0\n", 3, "[controller] timeout: out of range: '0' (allowed: 0.001 s to 3600 s"),
            ("[agent]\nresync-interval = 1e16\n", 2, "[agent] resync-interval: not a duration: '1e16' (allowed: 1 s to 2592000 s"),
            ("[agent]\nresync-interval = 99999999999999999999\n", 2, "[agent] resync-interval: not a duration: '99999999999999999999'"),
            ("[agent]\nresync-interval = 9999999h\n", 2, "[agent] resync-interval: out of range: '9999999h' (allowed: 1 s to 2592000 s"),
            ("[agent]\nresync-interval = -5\n", 2, "[agent] resync-interval: not a duration: '-5'"),
            ("# c\n[agent]\ndebounce = 61s\n", 3, "[agent] debounce: out of range: '61s' (allowed: 0 s to 60 s"),
            ("[nfd]\ndir = /x\nexpiry = inf\n", 3, "[nfd] expiry: not a duration: 'inf' (allowed: 60 s to 31622400 s"),
            (
                "[controller]\nurl = http://c/\nmax-attempts = 99999999999999999999999\n", 3,
                "[controller] max-attempts: '99999999999999999999999' is not an integer from 1 to 100"
            ),
            ("[controller]\nurl = http://c/\nmax-attempts = -1\n", 3, "[controller] max-attempts: '-1' is not an integer from 1 to 100"),
            ("[placement]\nurl = http://p/\nmicroversion = 1.1e300\n", 3, "[placement] microversion: '1.1e300' (allowed: 1.36 to 1.39)"),
        ])
    func durations(_ text: String, _ line: Int, _ message: String) {
        do {
            _ = try AgentConfig.parse(text, path: "/etc/hwlabel/agent.conf")
            Issue.record("must be refused: \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.description.hasPrefix("/etc/hwlabel/agent.conf:\(line): \(message)"), "\(error)")
        }
    }

    @Test("plain durations still parse: 600, 10m, 1.5s, 200ms, 1h")
    func goodDurations() throws {
        #expect(AgentConfig.parseDuration("600") == 600 && AgentConfig.parseDuration("10m") == 600)
        #expect(AgentConfig.parseDuration("1.5s") == 1.5 && AgentConfig.parseDuration("200ms") == 0.2)
        #expect(AgentConfig.parseDuration("1h") == 3600)
        for bad in ["", "s", ".", "1.2.3", "+5", "0x10", "1e3", "inf", "infinity", "nan", "1_000", "٣"] {
            #expect(AgentConfig.parseDuration(bad) == nil, "\(bad)")
        }
    }

    @Test(
        "hwlabel agent with an agent.conf duration of inf, 1e300 or 1e16: exit 1 naming file:line, no crash",
        arguments: [
            ("[controller]\nurl = http://127.0.0.1:9/\ntimeout = inf\n", 3, "[controller] timeout"),
            ("[agent]\nresync-interval = 1e300\n", 2, "[agent] resync-interval"),
            ("[agent]\nresync-interval = 1e16\n", 2, "[agent] resync-interval"),
        ])
    func agentRefusesBadDurations(_ text: String, _ line: Int, _ key: String) throws {
        let dir = try ProbeTestSupport.makeTemp("hostile-agent")
        defer { ProbeTestSupport.removeTemp(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/conf", withIntermediateDirectories: true)
        try text.write(toFile: dir + "/conf/agent.conf", atomically: true, encoding: .utf8)
        let r = try Hostile.hwlabel(
            [
                "agent", "--config-dir", dir + "/conf", "--state-dir", dir + "/state",
                "--sysfs-root", Hostile.sysfs,
            ], timeout: 30)
        #expect(!r.timedOut && r.status == 1, "\(r.output)")
        #expect(r.stderr.contains("hwlabel: error: \(dir)/conf/agent.conf:\(line): \(key): not a duration"), "\(r.stderr)")
    }

    @Test("agent.conf that is a FIFO or /dev/zero: refused by name, not read")
    func agentConfSpecial() throws {
        let dir = try ProbeTestSupport.makeTemp("hostile-agentconf")
        defer { ProbeTestSupport.removeTemp(dir) }
        try Hostile.mkfifo(dir + "/fifo.conf")
        symlink("/dev/zero", dir + "/zero.conf")
        for (name, kind) in [("fifo.conf", "a FIFO"), ("zero.conf", "a character device")] {
            do {
                _ = try AgentConfig.load(path: dir + "/" + name)
                Issue.record("must be refused")
            } catch {
                #expect("\(error)" == "cannot read \(dir)/\(name): it is \(kind), not a regular file")
            }
        }
    }

    @Test("Retry-After from a hostile controller: only whole seconds, at most a day")
    func retryAfter() {
        #expect(ControllerSink.retryAfter("5") == 5)
        #expect(ControllerSink.retryAfter(" 120 ") == 120)
        #expect(ControllerSink.retryAfter("999999999") == 86400)
        for bad in ["inf", "nan", "-1", "1e300", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "", "99999999999999999999"] {
            #expect(ControllerSink.retryAfter(bad) == nil, "\(bad)")
        }
        #expect(ControllerSink.retryAfter(nil) == nil)
    }

    @Test("timeouts turn into NIO milliseconds without trapping, whatever the value")
    func milliseconds() {
        #expect(ControllerSink.milliseconds(10) == 10_000)
        #expect(ControllerSink.milliseconds(.infinity) == 86_400_000)
        #expect(ControllerSink.milliseconds(.nan) == 1)
        #expect(ControllerSink.milliseconds(-5) == 1)
        #expect(ControllerSink.milliseconds(1e300) == 86_400_000)
    }
}

/// Helpers for the hostile-input suites (issue 12): a child `hwlabel` run that is killed if it
/// hangs, and the special files a hostile user puts where a file is expected.
enum Hostile {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
        var seconds: Double
        var output: String { stdout + stderr }
    }

    /// Runs the `hwlabel` binary next to the test bundle; killed after `timeout` seconds so a
    /// hang fails the test instead of the suite.
    static func hwlabel(_ args: [String], timeout: Double = 30) throws -> Run {
        try run(try ProbeTestSupport.hwlabelBinary(), args, timeout: timeout)
    }

    static func run(_ executable: String, _ args: [String], timeout: Double) throws -> Run {
        let dir = try ProbeTestSupport.makeTemp("hostile-run")
        defer { ProbeTestSupport.removeTemp(dir) }
        let out = dir + "/stdout", err = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        p.standardInput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        let deadline = start.addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        let timedOut = p.isRunning
        if timedOut { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return Run(
            status: p.terminationStatus,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
            timedOut: timedOut, seconds: Date().timeIntervalSince(start))
    }

    static func mkfifo(_ path: String) throws {
        guard Glibc.mkfifo(path, 0o644) == 0 else { throw ProbeTestSupport.SupportError("mkfifo \(path): errno \(errno)") }
    }

    /// A listening Unix socket at `path`; returns its descriptor (close it when done).
    static func unixSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProbeTestSupport.SupportError("socket: errno \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ProbeTestSupport.SupportError("socket path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { close(fd); throw ProbeTestSupport.SupportError("bind \(path): errno \(errno)") }
        return fd
    }

    /// The fixture host every CLI test here reads: 11 functions, among them the Intel
    /// 8086:37c8 (subsystem 8086:35cf, class 0b4000) at 0000:3b:00.0.
    static let sysfs = ProbeTestSupport.fixtures + "/sysfs/nfd-xeon-c620-rootfs-1/sys"
}
