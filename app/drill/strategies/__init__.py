"""The drill's strategy; ``tradingbot drill`` passes this folder as ``--strategy-path``."""
