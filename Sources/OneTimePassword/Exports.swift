@_exported import CryptoPrimitives
