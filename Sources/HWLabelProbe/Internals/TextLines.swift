/// Lines of a text file, ended by `\n` or `\r\n`.
///
/// Swift's `String.split(separator: "\n")` compares Characters, and `"\r\n"` is one Character:
/// a file saved with Windows line ends would come back as one line and parse to nothing. Every
/// line-oriented format the probe reads (`uevent`, `mountinfo`, `swaps`, route tables,
/// `cpuinfo`, `creatable_vgpu_types`) is split here instead, on bytes.
enum TextLines {
    /// The lines of `text` without their `\n` or `\r\n`; empty lines are left out unless
    /// `keepEmpty` (where an empty line means something, as between `cpuinfo` blocks).
    static func split(_ text: some StringProtocol, keepEmpty: Bool = false) -> [Substring] {
        let s = Substring(text)
        return s.utf8.split(separator: 0x0a, omittingEmptySubsequences: !keepEmpty).compactMap { raw in
            var line = raw
            if line.last == 0x0d { line = line.dropLast() }
            if line.isEmpty && !keepEmpty { return nil }
            return Substring(line)
        }
    }
}
