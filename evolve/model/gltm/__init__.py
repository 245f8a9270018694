"""GLTM (Heo, Koh, Kim, ECCV 2020): interaction network + global/local transfer network."""
