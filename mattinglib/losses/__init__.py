"""mattinglib.losses"""
