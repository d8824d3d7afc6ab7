import ArgumentParser
import FabSSH

/// `--known-hosts-policy strict|accept-new|insecure` parses straight into FabSSH's policy.
extension HostKeyPolicy: ExpressibleByArgument {}
