"""Python tooling for the Solvent margin protocol.

Modules:
    units    exact decimal -> WAD / token-unit conversion
    config   deployment configuration files (YAML)
    risk     integer mirror of the on-chain margin math
    rates    integer mirror of the vault interest and ERC-4626 share math
    deploy   deploys the whole system with ape and records it in a deployment file
    keeper   finds and liquidates accounts below maintenance margin
    demo     the crash demo behind `make demo`
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
