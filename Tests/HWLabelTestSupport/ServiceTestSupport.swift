import Foundation
@testable import HWLabelService
import HWLabelCore
import HWLabelProbe
import Logging

/// Builds a descriptor for reporter tests.
package func reporterDevice(_ address: String, label: String? = nil, ready: Bool = true, arch: String? = nil,
                    driver: String = "vfio-pci", instance: String? = nil) -> AssignableDevice {
    let a = PCIAddress(address)!
    var gpu: GPUFacts? = nil
    if let arch {
        var g = GPUFacts(family: "nvidia")
        g.architecture = Sourced(arch, source: "test")
        gpu = g
    }
    return AssignableDevice(
        address: a,
        attributes: AttributeIdentity(vendor: "10de", device: "1e30", subsystemVendor: "10de", subsystemDevice: "12ba",
                                      classCode: "030000", revision: "a1"),
        instance: InstanceIdentity(id: instance ?? "address:\(address)", source: "address"),
        kind: arch == nil ? "network" : "gpu", isVirtualFunction: false, physicalFunction: nil,
        names: Names(), label: label.map { LabelAssignment(name: $0, source: "rule", rule: "test") },
        readiness: Readiness(state: ready ? .ready : .notReady, reasons: [], remediation: []),
        gpu: gpu, companions: [], capacity: Capacity(), iommuGroup: 3, numaNode: nil, driver: driver)
}

package let reporterHost = HostIdentity(machineId: "0123456789abcdef0123456789abcdef", hostname: "kvm-07")

package func reporterScan(_ devices: [AssignableDevice], excluded: Set<String> = [], present: Set<PCIAddress>? = nil) -> ScanResult {
    ScanResult(descriptors: devices, excludedInstanceIds: excluded, presentAddresses: present,
               host: reporterHost, bootId: "b00710d0-0000-4000-8000-000000000001")
}

package func reporterTempDir(_ tag: String = #function) -> String {
    let p = NSTemporaryDirectory() + "hwlabel-reporter-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

/// An in-memory LogHandler: every line, with metadata, rendered as text.
package struct CapturingLogHandler: LogHandler {
    package let lines: LockedBox<[String]>
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .trace
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    package func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        let all = self.metadata.merging(metadata ?? [:]) { $1 }
        lines.withLock { $0.append("\(level) \(message) \(all)") }
    }
    package init(lines: LockedBox<[String]>, metadata: Logger.Metadata = [:], logLevel: Logger.Level = .trace) {
        self.lines = lines
        self.metadata = metadata
        self.logLevel = logLevel
    }
}

package func capturingLogger() -> (Logger, LockedBox<[String]>) {
    let box = LockedBox<[String]>([])
    return (Logger(label: "test") { _ in CapturingLogHandler(lines: box) }, box)
}

/// A sink that records what it got and when.
package final class RecordingSink: ReportSink, @unchecked Sendable {
    package let name: String
    package let box = LockedBox<[(Date, Report)]>([])
    package init(name: String = "recording") { self.name = name }
    package func deliver(_ report: Report) async throws { box.withLock { $0.append((Date(), report)) } }
    package var reports: [Report] { box.current.map(\.1) }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
package func eventually(timeout: TimeInterval = 5, _ condition: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return condition()
}
