"""The mesh network on chip: `network.Noc` (BookSim2's input-queued VC router, cycle by cycle, over the numba
kernel `flit_kernel` and its plain-Python twin `flit_ref`), the link-reservation approximation (`link_kernel`,
twin `link_ref`), BookSim's random numbers (`rng`), synthetic traffic (`traffic`, `synthetic`).
Imports only coresim.spec, coresim.errors and itself."""
