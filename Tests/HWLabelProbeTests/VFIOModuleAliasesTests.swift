import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// `Probe.vfioAliases`: `<modules-root>/<release>/modules.alias`, the release from the proc root.
@Suite("Probe: modules.alias for VFIO variant drivers")
struct VFIOModuleAliasesTests {
    static func root(release: String?, alias: String?) throws -> (base: String, modules: String, proc: String) {
        let base = try ProbeTestSupport.makeTemp("modalias")
        let modules = base + "/lib/modules", proc = base + "/proc"
        try FileManager.default.createDirectory(atPath: proc + "/sys/kernel", withIntermediateDirectories: true)
        if let release {
            try (release + "\n").write(toFile: proc + "/sys/kernel/osrelease", atomically: false, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: modules + "/" + release, withIntermediateDirectories: true)
            if let alias { try alias.write(toFile: modules + "/\(release)/modules.alias", atomically: false, encoding: .utf8) }
        }
        return (base, modules, proc)
    }

    @Test("the running release's file is read, CRLF tolerated; the variant wins over the catch-all")
    func readsRelease() throws {
        let text =
            "# Aliases extracted from modules themselves.\r\nalias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\r\n"
            + "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\r\nalias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core\r\n"
        let r = try Self.root(release: "6.8.0-49-generic", alias: text)
        defer { ProbeTestSupport.removeTemp(r.base) }
        let (idx, w) = Probe().vfioAliases(modulesRoot: r.modules, proc: r.proc)
        #expect(w.isEmpty)
        #expect(idx.path == r.modules + "/6.8.0-49-generic/modules.alias")
        #expect(idx.entries.map(\.module) == ["vfio_pci", "mlx5_vfio_pci"])
        #expect(idx.module(forModalias: "vfio_pci:v000015B3d0000101Esv000015B3sd00000040bc02sc00i00") == "mlx5_vfio_pci")
        // Without a proc root, the one release directory is used.
        #expect(Probe().vfioAliases(modulesRoot: r.modules, proc: nil).0.entries.count == 2)
    }

    @Test("a missing file, garbage and a FIFO: warnings naming the file, vfio-pci for everything")
    func badInput() throws {
        let missing = try Self.root(release: "6.1.0", alias: nil)
        defer { ProbeTestSupport.removeTemp(missing.base) }
        let (none, w1) = Probe().vfioAliases(modulesRoot: missing.modules, proc: missing.proc)
        #expect(none.entries.isEmpty && w1.map(\.message) == ["no \(missing.modules)/6.1.0/modules.alias: vfio-pci for every device"])

        let garbage = try Self.root(release: "6.1.0", alias: "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n\u{1}\u{2}binary\n")
        defer { ProbeTestSupport.removeTemp(garbage.base) }
        let (some, w2) = Probe().vfioAliases(modulesRoot: garbage.modules, proc: garbage.proc)
        #expect(some.entries.count == 1)
        #expect(w2.count == 1 && w2[0].message.contains("\(garbage.modules)/6.1.0/modules.alias line 2"))

        let fifo = try Self.root(release: "6.1.0", alias: nil)
        defer { ProbeTestSupport.removeTemp(fifo.base) }
        #expect(mkfifo(fifo.modules + "/6.1.0/modules.alias", 0o600) == 0)
        let (_, w3) = Probe().vfioAliases(modulesRoot: fifo.modules, proc: fifo.proc)
        #expect(w3.count == 1 && w3[0].message.contains("a FIFO, not a regular file"))
    }
}
