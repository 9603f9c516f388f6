/// `<proc>/self/mountinfo` and `<proc>/swaps`, parsed.
struct MountTable {
    struct Mount: Equatable {
        /// `259:2`; `0:NN` for file systems without a block device of their own (tmpfs, and
        /// btrfs, whose anonymous device number hides the disk: `source` names it then).
        var majorMinor: String
        var mountPoint: String
        var fsType: String
        /// The mount source (`/dev/nvme0n1p2`, `tmpfs`).
        var source: String
    }

    struct Swap: Equatable {
        /// As the kernel prints it: `/dev/nvme0n1p3`, `/dev/dm-1`, `/swapfile`.
        var path: String
        /// `partition` or `file`.
        var type: String
    }

    /// `id parent major:minor root mountpoint options [optional…] - fstype source superoptions`,
    /// with spaces, tabs, newlines and backslashes in paths written as `\040`-style octal.
    static func parseMountInfo(_ text: String) -> [Mount] {
        TextLines.split(text).compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 7, let dash = f.firstIndex(of: "-"), dash >= 6, dash + 2 < f.count else { return nil }
            return Mount(
                majorMinor: String(f[2]), mountPoint: unescape(f[4]), fsType: String(f[dash + 1]),
                source: unescape(f[dash + 2]))
        }
    }

    /// `Filename Type Size Used Priority`, a header line first.
    static func parseSwaps(_ text: String) -> [Swap] {
        TextLines.split(text).dropFirst().compactMap { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2 else { return nil }
            return Swap(path: unescape(f[0]), type: String(f[1]))
        }
    }

    /// The mount that holds `path`: the longest mount point that is a prefix of it (the last
    /// one mounted wins on a tie, as it hides the ones below).
    static func mount(holding path: String, in mounts: [Mount]) -> Mount? {
        var best: Mount?
        for m in mounts {
            let mp = m.mountPoint == "/" ? "/" : m.mountPoint + "/"
            guard path.hasPrefix(mp) || path == m.mountPoint else { continue }
            if best == nil || m.mountPoint.count >= best!.mountPoint.count { best = m }
        }
        return best
    }

    /// Undoes the kernel's `\ooo` escapes (`mangle()` in fs/proc_namespace.c and swapfile.c).
    static func unescape(_ s: Substring) -> String {
        guard s.contains("\\") else { return String(s) }
        var out = [UInt8]()
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == 0x5c, i + 3 < b.count,
                let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
