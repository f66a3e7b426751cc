// How large a container or a host may be. Sizes are whole units: a fraction of a cpu, of a MiB or
// of a GiB is refused, and so is anything past these limits (no real machine comes near them;
// they keep absurd numbers such as 1e308 out of capacity arithmetic).

/** Most cpus of a container or of a host's capacity. */
export const MAX_CPUS = 1024;
/** Most memory, in MiB: 16 TiB. */
export const MAX_MEMORY_MIB = 16 * 1024 * 1024;
/** Most disk, in GiB: 1 PiB. */
export const MAX_DISK_GIB = 1024 * 1024;
