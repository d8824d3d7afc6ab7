// The release this page was built from, for error reports.
window.VRMD_RELEASE = "{{CACHE_BUST}}";
