"""Dataflow accelerator (one large PE array, line buffers, BRAM, DRAM): its own simulator, not a mesh of cores."""
