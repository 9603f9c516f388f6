import HWLabelProbe
import Foundation
let src: ProbeSource = CommandLine.arguments.count > 2 ? (CommandLine.arguments[1] == "dump" ? .dump(file: CommandLine.arguments[2]) : .sysfs(root: CommandLine.arguments[2])) : .live()
let s = try Probe().snapshot(src)
let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .prettyPrinted]
print(String(decoding: try e.encode(s), as: UTF8.self))
