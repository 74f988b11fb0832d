package logs

// testStream is the log stream the internal tests' lines belong to.
const testStream = "2026/11/30/[$LATEST]0123456789abcdef0123456789abcdef"
