import ArgumentParser

/// What to do with a host key that `known_hosts` does not confirm (`--known-hosts-policy`).
public enum KnownHostsPolicy: String, Sendable, CaseIterable, ExpressibleByArgument {
    /// Refuse hosts whose key is unknown or different.
    case strict
    /// Add unknown hosts' keys to `known_hosts`; refuse hosts whose key changed.
    case acceptNew = "accept-new"
    /// Accept any key without checking. Only for throwaway test machines.
    case insecure
}
