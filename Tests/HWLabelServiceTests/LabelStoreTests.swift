import Foundation
import HWLabelService
import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

private typealias F = DeviceFixtures

/// The environment variables that turn `labelWriterChild` into a writer process.
private let childDirKey = "HWLABEL_AGENT_CHILD_DIR"
private let childIDKey = "HWLABEL_AGENT_CHILD_ID"

@Suite("Agent label store")
struct AgentLabelStoreTests {
    @Test("labels.conf round-trips and keeps hand-written comments")
    func roundTrip() throws {
        let dir = try ProbeTestSupport.makeTemp("labels")
        defer { ProbeTestSupport.removeTemp(dir) }
        let store = LabelStore(directory: dir)
        try "# my fleet notes\nrule vendor=10de device=1eb8 = Turing GPU\n".write(
            toFile: store.labelsPath, atomically: false, encoding: .utf8)
        try store.update { doc in
            doc.setInstanceLabel(key: "dsn:00-11-22-ff-fe-33-44-55", label: F.label("Inference T4"))
            doc.addRule(
                try LabelRule(
                    vendor: "10de", device: "1e30", subsystemVendor: "10de", subsystemDevice: "13d9", label: F.label("Turing GPU")))
        }
        let text = try String(contentsOfFile: store.labelsPath, encoding: .utf8)
        #expect(
            text == """
                # my fleet notes
                rule vendor=10de device=1eb8 = Turing GPU
                device dsn:00-11-22-ff-fe-33-44-55 = Inference T4
                rule vendor=10de device=1e30 subsystem=10de:13d9 = Turing GPU

                """)
        let set = try store.loadLabels()
        #expect(set.rules.count == 2)
        #expect(set.instanceLabels == [InstanceLabel(key: "dsn:00-11-22-ff-fe-33-44-55", label: F.label("Inference T4"))])
        // No temporary files are left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp.") }
        #expect(leftovers.isEmpty)
    }

    @Test(
        "a corrupt labels.conf gives file:line and is left byte-identical",
        arguments: [
            ("rule vendor=10de device=1eb8 = Turing GPU\n# ok\nrule vendr=10de = X\n", 3, "unknown rule field 'vendr=10de'"),
            ("device 0000:3b:00.0 = GPU!\n", 1, "character '!' is not allowed"),
            ("device 0000:3b:00.0 = A\ndevice 0000:3b:00.0 = B\n", 2, "already labelled on line 1"),
            ("lable 0000:3b:00.0 = A\n", 1, "unknown directive 'lable'"),
            ("rule vendor=10de device=1e30 subsystem=10de = X\n", 1, "subsystem (SVVV:SDDD)"),
            ("device 0000:3b:00.0 Turing\n", 1, "expected '<directive> … = <label>'"),
        ])
    func corrupt(_ content: String, _ line: Int, _ message: String) throws {
        let dir = try ProbeTestSupport.makeTemp("corrupt")
        defer { ProbeTestSupport.removeTemp(dir) }
        let store = LabelStore(directory: dir)
        let bytes = Data(content.utf8)
        try bytes.write(to: URL(fileURLWithPath: store.labelsPath))
        do {
            try store.update { $0.setInstanceLabel(key: "0000:01:00.0", label: F.label("New")) }
            Issue.record("a corrupt file must not be updated")
        } catch let e as ConfigError {
            #expect(e.description.hasPrefix("\(store.labelsPath):\(line): "), "\(e)")
            #expect(e.description.contains(message), "\(e)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.labelsPath)) == bytes)
    }

    @Test("policy.conf parses include/exclude/allowNestedWithPassthrough; errors carry the line")
    func policy() throws {
        let p = try PolicyFormat.parse(
            "# x\ninclude class=0880\nexclude device=8086:1533\nexclude address=0000:00:02.0\nallowNestedWithPassthrough = true\n",
            path: "policy.conf")
        #expect(p.include == [.classPrefix("0880")])
        #expect(p.exclude == [.vendorDevice("8086", "1533"), .address(F.addr("0000:00:02.0"))])
        #expect(p.allowNestedWithPassthrough)
        #expect(throws: ConfigError(path: "policy.conf", line: 2, message: "allowNestedWithPassthrough must be 'true' or 'false'")) {
            try PolicyFormat.parse("\nallowNestedWithPassthrough = yes\n", path: "policy.conf")
        }
        #expect(try PolicyFormat.parse(PolicyFormat.template, path: "t") == Policy())
    }

    /// Runs in a child process only (see `concurrentWriters`): sets labels one by one, each a
    /// separate locked read-modify-write.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[childDirKey] != nil))
    func labelWriterChild() throws {
        let env = ProcessInfo.processInfo.environment
        let store = LabelStore(directory: env[childDirKey]!)
        let id = env[childIDKey]!
        for i in 0..<10 {
            try store.update { $0.setInstanceLabel(key: "slot:w\(id)-\(i)", label: F.label("Writer \(id)")) }
        }
    }

    @Test("several processes writing labels at once lose no update")
    func concurrentWriters() async throws {
        let dir = try ProbeTestSupport.makeTemp("concurrent")
        defer { ProbeTestSupport.removeTemp(dir) }
        let exe = try #require(CommandLine.arguments.first.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
        let writers = 6
        let statuses = try await withThrowingTaskGroup(of: (Int32, String).self) { group in
            for w in 0..<writers {
                group.addTask {
                    let r = try ProbeTestSupport.run(
                        exe, ["--testing-library", "swift-testing", "--filter", "labelWriterChild"],
                        environment: [childDirKey: dir, childIDKey: "\(w)"])
                    return (r.status, r.stdout + r.stderr)
                }
            }
            var out: [(Int32, String)] = []
            for try await s in group { out.append(s) }
            return out
        }
        for (status, output) in statuses { #expect(status == 0, "\(output.suffix(2000))") }
        let set = try LabelStore(directory: dir).loadLabels()
        #expect(set.instanceLabels.count == writers * 10, "lost updates: \(writers * 10 - set.instanceLabels.count)")
        for w in 0..<writers {
            #expect(set.instanceLabels.filter { $0.label.name == "Writer \(w)" }.count == 10)
        }
    }
}
