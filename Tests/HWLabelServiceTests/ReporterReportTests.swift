import Foundation
@testable import HWLabelService
import HWLabelCore
import HWLabelProbe
import HWLabelTestSupport
import Testing

@Suite("Reporter: report builder")
struct ReporterReportTests {
    let epoch = "5f1c0c43-8a4e-4c1e-9d0e-3f1f9c1a2b3c"
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func firstReportIsGenerationOneSortedWithDigest() throws {
        let r = ReportBuilder.next(
            previous: nil, epoch: epoch,
            scan: reporterScan([reporterDevice("0000:3b:00.0"), reporterDevice("0000:01:00.0")]), now: t0)
        #expect(r.generation == 1)
        #expect(r.schemaVersion == "1.2" && Report.currentSchemaVersion == "1.2")
        #expect(r.descriptors.map(\.address.description) == ["0000:01:00.0", "0000:3b:00.0"])
        #expect(r.tombstones.isEmpty)
        #expect(r.digest.hasPrefix("sha256:") && r.digest.count == 71)
        #expect(r.generatedAt == "2027-01-15T08:00:00Z")
        #expect(r.idempotencyKey == "0123456789abcdef0123456789abcdef/\(epoch)/1")
    }

    @Test func restartWithSameDevicesKeepsGenerationAndDigestWithoutTombstones() throws {
        let devs = [reporterDevice("0000:01:00.0"), reporterDevice("0000:02:00.0")]
        let r1 = ReportBuilder.next(previous: nil, epoch: epoch, scan: reporterScan(devs), now: t0)
        // Through the JSON the state directory holds, as after a restart.
        let restored = try JSONDecoder().decode(Report.self, from: r1.canonicalJSON())
        let r2 = ReportBuilder.next(
            previous: restored, epoch: epoch, scan: reporterScan(devs.reversed()),
            now: t0.addingTimeInterval(3600))
        #expect(r2.generation == 1)
        #expect(r2.digest == r1.digest)
        #expect(r2.tombstones.isEmpty)
        #expect(r2.generatedAt != r1.generatedAt)
    }

    @Test func changeBumpsGenerationAndRemovalLeavesTombstonesWithReasons() throws {
        let a = reporterDevice("0000:01:00.0"), b = reporterDevice("0000:02:00.0"), c = reporterDevice("0000:03:00.0")
        let r1 = ReportBuilder.next(previous: nil, epoch: epoch, scan: reporterScan([a, b, c]), now: t0)
        // b's driver changed (still on the bus), c went away, a excluded by policy.
        let r2 = ReportBuilder.next(
            previous: r1, epoch: epoch,
            scan: reporterScan([], excluded: [a.instance.id], present: [a.address, b.address]), now: t0)
        #expect(r2.generation == 2)
        #expect(r2.tombstones.map(\.reason) == [.excludedByPolicy, .driverChanged, .unplugged])
        #expect(r2.tombstones.allSatisfy { $0.sinceGeneration == 2 })
        // Stable afterwards; a returning device drops its tombstone.
        let r3 = ReportBuilder.next(
            previous: r2, epoch: epoch, scan: reporterScan([], excluded: [a.instance.id], present: [a.address, b.address]), now: t0)
        #expect(r3.generation == 2 && r3.digest == r2.digest)
        let r4 = ReportBuilder.next(previous: r3, epoch: epoch, scan: reporterScan([c]), now: t0)
        #expect(r4.generation == 3)
        #expect(r4.tombstones.map(\.instanceId) == [a.instance.id, b.instance.id])
        #expect(r4.tombstones.map(\.sinceGeneration) == [2, 2])
    }

    @Test func newEpochRestartsGenerations() {
        let r1 = ReportBuilder.next(previous: nil, epoch: epoch, scan: reporterScan([reporterDevice("0000:01:00.0")]), now: t0)
        let r2 = ReportBuilder.next(previous: r1, epoch: "other", scan: reporterScan([]), now: t0)
        #expect(r2.generation == 1 && r2.tombstones.isEmpty)
    }

    @Test func canonicalJSONIsDeterministicWithSortedKeys() throws {
        let r = ReportBuilder.next(
            previous: nil, epoch: epoch, scan: reporterScan([reporterDevice("0000:01:00.0", label: "Turing GPU")]), now: t0)
        let a = try r.canonicalJSON(), b = try JSONDecoder().decode(Report.self, from: a).canonicalJSON()
        #expect(a == b)
        let text = String(decoding: a, as: UTF8.self)
        #expect(text.hasPrefix(#"{"agentEpoch":"#))
        #expect(text.contains(#""bootId":"b00710d0"#))
    }

    /// An unknown boot id is written as an explicit `null` (the schema requires the key) and
    /// reads back as nil.
    @Test func unknownBootIdIsNullNotOmitted() throws {
        var r = ReportBuilder.next(previous: nil, epoch: epoch, scan: reporterScan([]), now: t0)
        r.bootId = nil
        let text = String(decoding: try r.canonicalJSON(), as: UTF8.self)
        #expect(text.contains(#""bootId":null"#))
        #expect(try JSONDecoder().decode(Report.self, from: Data(text.utf8)).bootId == nil)
    }

    /// Schema 1.1: a report with every new descriptor field validates against
    /// schema/report-1.0.schema.json; the same report as 1.0 wrote it (no new keys) validates
    /// too and reads back with what 1.0 implied (whole device, usage unknown).
    @Test func reportSchemaOneOneAndOneZero() throws {
        let schema = ProbeTestSupport.packageRoot + "/schema/report-1.0.schema.json"
        var card = reporterDevice("0000:41:00.0", label: "Inference GPU", arch: "ada", driver: "nvidia")
        card.mode = .vgpu
        card.excludes = [PCIAddress("0000:41:00.4")!]
        card.usage = DeviceUsage(
            state: .vm,
            bindings: [
                VMBinding(
                    pid: 77, process: "qemu-system-x86", guest: "vm-2",
                    node: "/dev/vfio/devices/vfio3", address: PCIAddress("0000:41:00.4")!)
            ],
            hostUses: [HostUseEntry(kind: "nvidia-open", address: PCIAddress("0000:41:00.0")!, detail: "nvidia-persistenced")])
        card.vgpu = VGPUOffer(
            mechanism: "nvidia-vfio", activeType: "NVIDIA L40S-8Q", activeInstances: 1, mixedSize: false,
            framebuffer: Sourced(48 << 30, source: "catalog"), slots: [PCIAddress("0000:41:00.4")!],
            profiles: [
                VGPUProfile(
                    id: "1155", name: "NVIDIA L40S-8Q", available: 5, instances: 1,
                    framebuffer: nil, basis: "creatable VFs")
            ],
            publishedType: "NVIDIA L40S-8Q")
        var vf = reporterDevice("0000:3b:00.2")
        vf.isVirtualFunction = true
        vf.physicalFunction = PCIAddress("0000:3b:00.0")
        vf.parent = vf.physicalFunction
        vf.mode = .sriovVF
        vf.usage = DeviceUsage(state: .free)
        let r = ReportBuilder.next(previous: nil, epoch: epoch, scan: reporterScan([card, vf]), now: t0)
        let v11 = try r.canonicalJSON()
        try SchemaValidator.validate(v11, label: "report 1.1", schema: schema)
        #expect(String(decoding: v11, as: UTF8.self).contains(#""publishedType":"NVIDIA L40S-8Q""#))
        var bad = try JSONSerialization.jsonObject(with: v11) as! [String: Any]
        var ds = bad["descriptors"] as! [[String: Any]]
        ds[0]["mode"] = "passthrough"
        bad["descriptors"] = ds
        #expect(try SchemaValidator.validationStatus(try SchemaValidator.canonical(bad), schema: schema).0 == 1)

        var v10 = try JSONSerialization.jsonObject(with: v11) as! [String: Any]
        #expect(InventorySchemaTests.downgradeTo10(&v10) == 10)
        let v10Data = try SchemaValidator.canonical(v10)
        try SchemaValidator.validate(v10Data, label: "report 1.0", schema: schema)
        let read = try JSONDecoder().decode(Report.self, from: v10Data)
        #expect(read.schemaVersion == "1.0")
        #expect(read.descriptors.map(\.mode) == [.sriovVF, .wholeDevice])
        #expect(read.descriptors[0].parent == PCIAddress("0000:3b:00.0"))
        #expect(read.descriptors.allSatisfy { $0.usage.state == .unknown && $0.vgpu == nil })
    }

    /// The digest is taken over `Report` itself: a change to any field of the report or of a
    /// descriptor changes it, `generatedAt` does not. The mutations are named after the stored
    /// properties, so a field added to either type fails here until it is listed.
    @Test func everyFieldOfReportAndDescriptorIsInTheDigest() throws {
        var gpu = GPUFacts(family: "nvidia")
        gpu.architecture = Sourced("ada", source: "test")
        let base = ReportBuilder.next(
            previous: nil, epoch: epoch,
            scan: reporterScan([
                reporterDevice("0000:01:00.0", label: "Turing GPU", arch: "turing"), reporterDevice("0000:02:00.0"),
            ]), now: t0)
        let digest = ReportBuilder.digest(of: base)
        #expect(digest == base.digest)

        let deviceMutations: [String: (inout AssignableDevice) -> Void] = [
            "address": { $0.address = PCIAddress("0000:01:00.1")! },
            "attributes": { $0.attributes.revision = "a2" },
            "instance": { $0.instance.source = "serial-number" },
            "kind": { $0.kind = "accelerator" },
            "isVirtualFunction": { $0.isVirtualFunction = true },
            "physicalFunction": { $0.physicalFunction = PCIAddress("0000:00:01.0") },
            "names": { $0.names.device = "TU104GL" },
            "label": { $0.label?.rule = "another rule" },
            "readiness": { $0.readiness.remediation = ["bind vfio-pci"] },
            "gpu": { $0.gpu = gpu },
            "companions": { $0.companions = [PCIAddress("0000:01:00.1")!] },
            "capacity": { $0.capacity.sriov = SRIOVCapacity(total: 4, enabled: 0, free: 0) },
            "iommuGroup": { $0.iommuGroup = 4 },
            "numaNode": { $0.numaNode = 0 },
            "driver": { $0.driver = "nvidia" },
            "mode": { $0.mode = .vgpu },
            "parent": { $0.parent = PCIAddress("0000:00:01.0") },
            "excludes": { $0.excludes = [PCIAddress("0000:01:00.1")!] },
            "usage": { $0.usage = DeviceUsage(state: .free) },
            "vgpu": {
                $0.vgpu = VGPUOffer(
                    mechanism: "mdev", activeType: nil, activeInstances: 0, mixedSize: false,
                    framebuffer: nil, slots: [], profiles: [], publishedType: nil)
            },
            "drift": {
                let was = RecordedIdentity(
                    vendor: "10de", device: "1eb8", subsystemVendor: "10de", subsystemDevice: "12a2", classCode: "030200")
                var now = was
                now.device = "2236"
                $0.drift = [IdentityDrift(source: .label, key: "slot:3", recorded: was, present: now, label: "Inference T4")]
            },
        ]
        let deviceFields = Mirror(reflecting: base.descriptors[0]).children.compactMap { $0.label.map(Self.fieldName) }
        #expect(Set(deviceMutations.keys) == Set(deviceFields))
        for (field, mutate) in deviceMutations {
            var r = base
            mutate(&r.descriptors[0])
            #expect(r.descriptors != base.descriptors, "\(field): the mutation changed nothing")
            #expect(ReportBuilder.digest(of: r) != digest, "descriptor field \(field) is not in the digest")
        }

        let reportMutations: [String: (inout Report) -> Void] = [
            "schemaVersion": { $0.schemaVersion = "1.0" },
            "host": { $0.host.hostname = "kvm-08" },
            "bootId": { $0.bootId = nil },
            "agentEpoch": { $0.agentEpoch = "other" },
            "generation": { $0.generation += 1 },
            "descriptors": { $0.descriptors.removeLast() },
            "tombstones": {
                $0.tombstones = [
                    Tombstone(
                        instanceId: "x", address: PCIAddress("0000:09:00.0")!,
                        reason: .unplugged, sinceGeneration: 1)
                ]
            },
        ]
        let reportFields = Mirror(reflecting: base).children.compactMap { $0.label.map(Self.fieldName) }
        #expect(Set(reportMutations.keys).union(["generatedAt", "digest"]) == Set(reportFields))
        for (field, mutate) in reportMutations {
            var r = base
            mutate(&r)
            #expect(ReportBuilder.digest(of: r) != digest, "report field \(field) is not in the digest")
        }
        var later = base
        later.generatedAt = "2030-01-01T00:00:00Z"
        later.digest = "sha256:0"
        #expect(ReportBuilder.digest(of: later) == digest)
    }

    /// A stored property's name as Mirror gives it, without a property wrapper's `_`.
    static func fieldName(_ label: String) -> String { label.hasPrefix("_") ? String(label.dropFirst()) : label }

    @Test func readerAcceptsOneDotNButNotTwo() {
        #expect(Report.accepts("1.0") && Report.accepts("1.7"))
        #expect(!Report.accepts("2.0") && !Report.accepts("1") && !Report.accepts("1.x"))
    }

    @Test func stateStoreKeepsEpochAcrossInstances() throws {
        let dir = reporterTempDir()
        let e1 = try StateStore(directory: dir).agentEpoch()
        let e2 = try StateStore(directory: dir).agentEpoch()
        #expect(e1 == e2 && UUID(uuidString: e1) != nil)
    }
}

@Suite("Reporter: config, NFD and file sinks")
struct ReporterSinkTests {
    @Test func parsesAgentConf() throws {
        let c = try AgentConfig.parse(
            """
            # comment
            [agent]
            resync-interval = 10m
            debounce = 150ms
            [controller]
            url = https://ctl.example/v1/reports
            token-file = /etc/hwlabel/controller-token
            timeout = 3
            [file]
            path = /tmp/r.json
            [nfd]
            dir = /tmp/features.d
            expiry = 1h
            """)
        #expect(c.resyncInterval == 600 && abs(c.debounce - 0.15) < 1e-9)
        #expect(c.controller?.url == "https://ctl.example/v1/reports" && c.controller?.timeout == 3)
        #expect(c.controller?.tokenFile == "/etc/hwlabel/controller-token")
        #expect(c.filePath == "/tmp/r.json" && c.nfd?.expiry == 3600)
        #expect(throws: AgentConfig.ParseError.self) { try AgentConfig.parse("[controller]\ntimeout = 3\n") }
        #expect(throws: AgentConfig.ParseError.self) { try AgentConfig.parse("[agent]\nbogus = 1\n") }
    }

    @Test(
        arguments: [
            ("Turing GPU", "Turing-GPU"), ("-a_b.c-", "a_b.c"), ("RTX 6000/8000 (Quadro)", "RTX-6000-8000-Quadro"),
            (String(repeating: "x", count: 80), String(repeating: "x", count: 63)), ("!!!", nil),
        ] as [(String, String?)])
    func nfdLabelNames(raw: String, expected: String?) {
        #expect(ExportedName.nfdLabelName(raw) == expected)
    }

    @Test func nfdFileHasExpiryCountsAndIsAtomic() async throws {
        let dir = reporterTempDir()
        let report = ReportBuilder.next(
            previous: nil, epoch: "e",
            scan: reporterScan([
                reporterDevice("0000:01:00.0", label: "Turing GPU", arch: "turing"),
                reporterDevice("0000:02:00.0", label: "Turing GPU", ready: false, arch: "turing"),
                reporterDevice("0000:03:00.0"),
            ]), now: Date())
        let sink = NFDSink(
            directory: dir + "/features.d", expiry: 600,
            clock: { Date(timeIntervalSince1970: 1_800_000_000) })
        try await sink.deliver(report)
        let text = try String(contentsOfFile: sink.path, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("# +expiry-time=2027-01-15T08:10:00Z"))
        #expect(lines.contains("hwlabel.io/label.Turing-GPU=1"))
        #expect(lines.contains("hwlabel.io/gpu-arch.turing=1"))
        #expect(lines.contains("hwlabel.io/devices=2"))
        #expect(lines.contains("hwlabel.io/kind.network=1"))
        // Expiry directive precedes every label line; names follow Kubernetes rules.
        let expiryIndex = lines.firstIndex { $0.hasPrefix("# +expiry-time=") }!
        for (i, l) in lines.enumerated() where !l.hasPrefix("#") && !l.isEmpty {
            #expect(i > expiryIndex)
            let name = l.split(separator: "=")[0].split(separator: "/")[1]
            #expect(name.count <= 63 && name.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) })
        }
        // Only the final file is visible to NFD (no leftover dot-temp).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/features.d") == ["hwlabel"])
    }

    @Test func nfdFileStaysUnder64kB() {
        let many = (0..<3000).map { i in
            reporterDevice(
                String(format: "0000:%02x:%02x.%x", i / 256 % 256, i / 8 % 32, i % 8),
                label: "label number \(i) with a long name to fill the file", instance: "i\(i)")
        }
        let report = ReportBuilder.next(previous: nil, epoch: "e", scan: reporterScan(many), now: Date())
        let text = NFDSink.render(report, expiresAt: Date())
        #expect(text.utf8.count <= 64 * 1024)
        #expect(text.hasSuffix("# truncated at 64 kB\n"))
    }

    /// The report file is the canonical bytes indented (`PrettyJSON`, JSONEncoder's layout of
    /// empty containers) plus a newline, and reads back as the same report.
    @Test func fileSinkWritesTheCanonicalReportIndented() async throws {
        let dir = reporterTempDir()
        let path = dir + "/report.json"
        let report = ReportBuilder.next(
            previous: nil, epoch: "e",
            scan: reporterScan(
                [reporterDevice("0000:01:00.0", label: "Turing GPU"), reporterDevice("0000:02:00.0")]), now: Date())
        try await FileSink(path: path).deliver(report)
        let bytes = try #require(FileManager.default.contents(atPath: path))
        #expect(Array(bytes) == PrettyJSON.format(Array(try report.canonicalJSON()), emptyContainers: .blankLine) + [0x0a])
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("{\n  \"agentEpoch\" : \"e\",\n"))
        #expect(text.contains("\"tombstones\" : [\n\n  ]\n}\n"))
        #expect(try JSONDecoder().decode(Report.self, from: bytes) == report)
    }

    @Test func fileSinkReaderNeverSeesATornFile() async throws {
        let dir = reporterTempDir()
        let path = dir + "/report.json"
        let sink = FileSink(path: path)
        var report = ReportBuilder.next(
            previous: nil, epoch: "e",
            scan: reporterScan(
                (0..<200).map { reporterDevice(String(format: "0000:%02x:00.0", $0), instance: "i\($0)") }), now: Date())
        try await sink.deliver(report)
        let stop = LockedBox(false)
        let torn = LockedBox(0)
        let reader = Thread {
            while !stop.current {
                if let d = FileManager.default.contents(atPath: path), (try? JSONDecoder().decode(Report.self, from: d)) == nil {
                    torn.withLock { $0 += 1 }
                }
            }
        }
        reader.start()
        for g in 2...60 {
            report.generation = UInt64(g)
            try await sink.deliver(report)
        }
        stop.withLock { $0 = true }
        #expect(torn.current == 0)
        let final = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(final.generation == 60)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["report.json"])
    }
}
