//go:build race

package placement

// raceEnabled: the race detector makes the simulation about 15 times slower,
// so TestSimulation runs a smaller cluster under it.
const raceEnabled = true
