"""The pure core of hookd: no I/O, nothing imported from store, delivery or api."""
