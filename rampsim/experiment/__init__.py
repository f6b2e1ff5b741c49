"""Experiments: a scenario mix × replicates × a grid of gates → operating characteristics."""
