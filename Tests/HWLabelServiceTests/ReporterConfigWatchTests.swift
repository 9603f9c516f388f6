import Foundation
@testable import HWLabelService
import HWLabelCore
import HWLabelProbe
import HWLabelTestSupport
import Testing

@Suite("Reporter: configuration changes apply without SIGHUP")
struct ReporterConfigWatchTests {
    /// A label rule written to labels.conf (temporary dot-file + rename, as `hwlabel label`
    /// does) reaches the report through the inotify watch, with no reload call and long before
    /// the resync timer.
    @Test func labelRuleWrittenToConfigDirectoryReachesTheReport() async throws {
        let state = reporterTempDir(), config = reporterTempDir()
        try "[agent]\nresync-interval = 3600\n[file]\npath = \(state)/r.json\n"
            .write(toFile: config + "/agent.conf", atomically: true, encoding: .utf8)
        let tree = ProbeTestSupport.fixtures + "/sysfs/nfd-xeon-c620-rootfs-1/sys"
        let (logger, _) = capturingLogger()
        let service = AgentService(
            options: .init(configDirectory: config, stateDirectory: state),
            source: DescriptorSources.probe(sysfsRoot: tree, configDirectory: config),
            events: nil, logger: logger, notify: SDNotify(environment: [:]))
        let task = Task { try await service.run() }
        func report() -> Report? {
            guard let d = FileManager.default.contents(atPath: state + "/r.json") else { return nil }
            return try? JSONDecoder().decode(Report.self, from: d)
        }
        try #require(await eventually(timeout: 30) { report() != nil })
        let nic = try #require(report()?.descriptors.first { $0.attributes.vendor == "8086" && $0.attributes.device == "37d2" })
        #expect(nic.label == nil)

        // Written the way editors and `hwlabel label` write: a dot-file renamed into place.
        try "rule vendor=8086 device=37d2 = Lab NIC\n".write(toFile: config + "/.labels.conf.tmp", atomically: false, encoding: .utf8)
        #expect(rename(config + "/.labels.conf.tmp", config + "/labels.conf") == 0)
        try #require(
            await eventually(timeout: 30) {
                report()?.descriptors.first { $0.address == nic.address }?.label?.name == "Lab NIC"
            })
        #expect((report()?.generation ?? 0) >= 2)
        service.stop()
        try await task.value
    }
}
