/// fab's version, printed by `fab --version` and part of every fabfile plugin's cache key.
public enum FabVersion {
    /// The version of this build of fab.
    public static let current = "0.1.0"
}
