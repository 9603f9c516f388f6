import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
import HWLabelService

/// What a user sees, byte for byte, on every recorded fixture and every kernel-shaped test host:
/// `inventory --format json`, `list --format json` (flat and `--tree`), and the agent's report,
/// NFD feature file and Placement write plan for the sysfs inputs. The goldens under
/// `Fixtures/golden/` were recorded before the code was restructured; a change that alters any
/// byte of any of them fails here. Record again (only for an intended output change, said so in
/// the commit) with `HWLABEL_RECORD_GOLDENS=1 swift test --filter GoldenOutput`.
@Suite("Golden outputs: byte-identical inventory, list, report, NFD and Placement plan")
struct GoldenOutputTests {
    static let goldenDir = ProbeTestSupport.fixtures + "/golden"
    static let recording = ProcessInfo.processInfo.environment["HWLABEL_RECORD_GOLDENS"] == "1"

    /// One input: the source options for the CLI, relative to `directory` (the CLI runs there,
    /// so the paths it prints are the same in every checkout), and the sysfs root when there is one.
    struct Input: CustomStringConvertible, Sendable {
        var name: String
        var directory: String
        var source: [String]
        var sysfsRoot: String?
        var description: String { name }
    }

    static var fixtureInputs: [Input] {
        var inputs: [Input] = []
        for name in ProbeTestSupport.fixtureNames("sysfs") {
            let base = "sysfs/" + name
            var source = ["--sysfs-root", base + "/sys"]
            if FileManager.default.fileExists(atPath: ProbeTestSupport.fixtures + "/" + base + "/proc") {
                source += ["--proc-root", base + "/proc"]
            }
            inputs.append(
                Input(
                    name: "sysfs-" + name, directory: ProbeTestSupport.fixtures, source: source,
                    sysfsRoot: ProbeTestSupport.fixtures + "/" + base + "/sys"))
        }
        for name in ProbeTestSupport.fixtureNames("lspci") {
            inputs.append(Input(name: "lspci-" + name, directory: ProbeTestSupport.fixtures, source: ["--pci-dump", "lspci/" + name]))
        }
        return inputs
    }

    @Test("every recorded fixture", arguments: fixtureInputs)
    func fixture(_ input: Input) throws {
        let config = try ProbeTestSupport.makeTemp("golden-config")
        defer { ProbeTestSupport.removeTemp(config) }
        try compareAll(input, config: config)
    }

    @Test("kernel-shaped host trees, with an instance label and a rule", arguments: ["hgx-h100", "vgpu-host", "sriov-nic-host"])
    func hostTree(_ name: String) throws {
        let tree: TreeBuilder =
            switch name {
            case "hgx-h100": try HostTrees.hgxH100().tree
            case "vgpu-host": try HostTrees.vgpuHost().tree
            default: try HostTrees.sriovNICHost().tree
            }
        defer { tree.cleanup() }
        let config = try ProbeTestSupport.makeTemp("golden-config")
        defer { ProbeTestSupport.removeTemp(config) }
        var source = ["--sysfs-root", "sys"]
        if FileManager.default.fileExists(atPath: tree.procRoot) { source += ["--proc-root", "proc"] }
        let input = Input(name: "tree-" + name, directory: tree.base, source: source, sysfsRoot: tree.sysRoot)

        // A rule over every NVIDIA and Mellanox function, and an instance label on the first
        // display controller (network, on the NIC host), so labels reach every output.
        let bin = try ProbeTestSupport.hwlabelBinary()
        for vendor in ["10de", "15b3"] {
            let r = try ProbeTestSupport.run(bin, ["label", "rule", "add", "--config-dir", config, "--vendor", vendor, "Rule \(vendor)"])
            #expect(r.status == 0, "label rule add: \(r.stderr)")
        }
        let list = try ProbeTestSupport.run(
            bin, ["list", "--format", "json", "--config-dir", config] + source,
            currentDirectory: tree.base)
        let rows = try #require(
            try JSONSerialization.jsonObject(with: list.stdoutData) as? [[String: Any]], "list --format json: \(list.stderr)")
        func base(_ row: [String: Any]) -> String? { (row["classCode"] as? [String: Any])?["base"] as? String }
        let gpu = try #require(rows.first { base($0) == "03" } ?? rows.first { base($0) == "02" }, "no display or network controller")
        if let address = gpu["address"] as? String {
            let r = try ProbeTestSupport.run(
                bin, ["label", "set", "--config-dir", config] + source + [address, "Golden GPU"],
                currentDirectory: tree.base)
            #expect(r.status == 0, "label set: \(r.stderr)")
        }
        try compareAll(input, config: config)
    }

    // MARK: -

    func compareAll(_ input: Input, config: String) throws {
        let bin = try ProbeTestSupport.hwlabelBinary()
        func cli(_ args: [String]) throws -> ProbeTestSupport.Result {
            try ProbeTestSupport.run(bin, args + ["--config-dir", config] + input.source, currentDirectory: input.directory)
        }
        let inventory = try cli(["inventory", "--format", "json"])
        try compare(input, "inventory.json", Self.fixedGeneratedAt(inventory.stdout), status: inventory, config: config)
        let list = try cli(["list", "--format", "json"])
        try compare(input, "list.json", list.stdout, status: list, config: config)
        let tree = try cli(["list", "--tree", "--format", "json"])
        try compare(input, "tree.json", tree.stdout, status: tree, config: config)

        guard let root = input.sysfsRoot else { return }
        var scan = try DescriptorSources.probe(sysfsRoot: root, configDirectory: config)()
        scan.host = HostIdentity(machineId: "0123456789abcdef0123456789abcdef", hostname: "golden")
        scan.bootId = "00000000-0000-4000-8000-000000000000"
        let report = ReportBuilder.next(
            previous: nil, epoch: "golden-epoch", scan: scan,
            now: Date(timeIntervalSince1970: 1_750_000_000))
        try compare(input, "report.json", String(decoding: try report.canonicalJSON(), as: UTF8.self))
        try compare(input, "nfd.txt", NFDSink.render(report, expiresAt: Date(timeIntervalSince1970: 1_750_003_600)))
        let desired = PlacementMapping.desiredTree(hostName: "golden", devices: report.descriptors)
        let plan = PlacementPlanner.plan(
            current: PlacementState(
                root: nil, providers: [], existingTraits: [],
                existingResourceClasses: []),
            desired: desired)
        var text = ""
        for call in plan.calls {
            text += "\(call.method) \(call.path)\n"
            if let body = call.body() { text += String(decoding: body, as: UTF8.self) + "\n" }
        }
        for w in plan.warnings { text += "warning: \(w)\n" }
        for s in desired.skipped { text += "skipped: \(s)\n" }
        try compare(input, "placement.txt", text)
    }

    /// `generatedAt` is the one field that changes run to run (the digest excludes it).
    static func fixedGeneratedAt(_ json: String) -> String {
        json.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.trimmingCharacters(in: .whitespaces).hasPrefix("\"generatedAt\" :")
                ? String(line.prefix { $0 == " " }) + "\"generatedAt\" : \"<now>\","
                : String(line)
        }.joined(separator: "\n")
    }

    func compare(
        _ input: Input, _ kind: String, _ actual: String, status: ProbeTestSupport.Result? = nil, config: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let path = Self.goldenDir + "/" + input.name + "." + kind
        var text = actual
        // The exit status and stderr (warnings name files relative to the input's directory;
        // the config dir is a fresh temporary one) are output too.
        if let status {
            text = "exit \(status.status)\n" + status.stderr.replacingOccurrences(of: config, with: "$CONFIG") + "--- stdout\n" + actual
        }
        if Self.recording {
            try FileManager.default.createDirectory(atPath: Self.goldenDir, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let golden = try #require(
            try? String(contentsOfFile: path, encoding: .utf8),
            "no golden \(path): record with HWLABEL_RECORD_GOLDENS=1", sourceLocation: sourceLocation)
        if golden != text {
            let g = golden.split(separator: "\n", omittingEmptySubsequences: false)
            let a = text.split(separator: "\n", omittingEmptySubsequences: false)
            let i = (0..<min(g.count, a.count)).first { g[$0] != a[$0] } ?? min(g.count, a.count)
            Issue.record(
                "\(input.name) \(kind) differs from its golden at line \(i + 1):\n golden: \(i < g.count ? String(g[i]) : "<end>")\n now:    \(i < a.count ? String(a[i]) : "<end>")",
                sourceLocation: sourceLocation)
        }
    }
}
