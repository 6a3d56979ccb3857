"""The workbench: reports and documentation generators over a synthesized cloud assembly (not deployed)."""
