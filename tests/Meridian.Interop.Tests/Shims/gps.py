#!/usr/bin/env python3
"""A GPS receiver on a pseudo-terminal, for the reference clock tests.

Opens a pty, links its slave to --link, and at every second writes a $GPRMC naming that second, --delay seconds
after it begins (the serial delay seed 003 measures). --bad adds, after the good sentence of the first seconds, an
invalid fix (status V) and a sentence with a wrong checksum. With --feed PORT it serves the same sentences (and a
GGA, for gpsd's fix count) to one TCP client instead, which is how gpsd reads a network source. Stops after
--seconds.
"""
import argparse, datetime, math, os, socket, sys, time, tty

def checksummed(body):
    s = 0
    for c in body:
        s ^= ord(c)
    return "$%s*%02X\r\n" % (body, s)

def sentences(second, fix="A"):
    t = datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
    hms = t.strftime("%H%M%S") + ".00"
    return checksummed("GPRMC,%s,%s,4807.038,N,01131.000,E,022.4,084.4,%s,003.1,W" % (hms, fix, t.strftime("%d%m%y"))), \
        checksummed("GPGGA,%s,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,," % hms)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--link")
    p.add_argument("--feed", type=int)
    p.add_argument("--delay", type=float, default=0.2)
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--bad", type=int, default=0)
    a = p.parse_args()
    out = None
    if a.feed:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", a.feed))
        server.listen(1)
        print("listening", flush=True)
        conn, _ = server.accept()
        write = lambda data: conn.sendall(data)
    else:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        if os.path.lexists(a.link):
            os.unlink(a.link)
        os.symlink(os.ttyname(slave), a.link)
        print(os.ttyname(slave), flush=True)
        def write(data):
            try:
                os.write(master, data)
            except BlockingIOError:
                pass  # nobody reads the line now: the sentence is lost, as on a wire
    end = time.time() + a.seconds
    n = 0
    while time.time() < end:
        now = time.time()
        target = math.floor(now) + a.delay
        if target <= now:
            target += 1
        time.sleep(target - now)
        second = round(time.time() - a.delay)
        rmc, gga = sentences(second)
        data = rmc + (gga if a.feed else "")
        if n < a.bad:
            data += sentences(second, fix="V")[0]
            data += rmc[:-4] + ("00" if rmc[-4:-2] != "00" else "11") + "\r\n"
        write(data.encode("ascii"))
        n += 1

if __name__ == "__main__":
    main()
