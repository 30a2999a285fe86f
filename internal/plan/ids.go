package plan

// SortedIDs returns agent or group ids deduplicated and in the planner's
// order (numerically when both are numbers, "2" before "10"), never nil:
// what the plugin writes then reads back in the order the controller
// compares.
func SortedIDs(ids []string) []string { return sortedSet(ids) }
