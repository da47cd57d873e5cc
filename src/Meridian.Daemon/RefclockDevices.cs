using Meridian.Engine;
using Meridian.Engine.Refclocks;
using Meridian.Host;

namespace Meridian.Daemon;

/// <summary>
/// The host's devices for the reference clock drivers: a serial line is read on the event loop as soon as bytes
/// arrive, each read stamped with the clock when it returned (the arrival of a sentence's end, which is what an NMEA
/// driver measures); PPS sources and shared-memory segments are read by the drivers themselves once a second.
/// </summary>
public sealed class RefclockDevices(EventLoop loop, IClock clock) : IRefclockDevices
{
    public IRefclockLine? OpenLine(string path, int baud, RefclockDataHandler receive, out string? error)
    {
        ArgumentNullException.ThrowIfNull(receive);
        try
        {
            var line = new LoopLine(loop, clock, SerialLine.Open(path, baud), receive);
            error = null;
            return line;
        }
        catch (RefclockDeviceException e)
        {
            error = e.Message;
            return null;
        }
    }

    public IPpsSource? OpenPps(string path, out string? error)
    {
        try
        {
            error = null;
            return PpsSource.Open(path);
        }
        catch (RefclockDeviceException e)
        {
            error = e.Message;
            return null;
        }
    }

    public IShmSegment? AttachShm(int key, bool ownerOnly, out string? error)
    {
        try
        {
            error = null;
            return ShmSegment.Attach(key, ownerOnly);
        }
        catch (RefclockDeviceException e)
        {
            error = e.Message;
            return null;
        }
    }

    /// <summary>A serial line registered with the loop: readable means read now, stamp, and hand over.</summary>
    private sealed class LoopLine : IRefclockLine
    {
        private readonly EventLoop _loop;
        private readonly IClock _clock;
        private readonly SerialLine _line;
        private readonly RefclockDataHandler _receive;
        private readonly byte[] _buffer = new byte[1024];
        private bool _registered;

        public LoopLine(EventLoop loop, IClock clock, SerialLine line, RefclockDataHandler receive)
        {
            _loop = loop;
            _clock = clock;
            _line = line;
            _receive = receive;
            _loop.AddReader(line.Handle, Readable);
            _registered = true;
        }

        public bool IsOpen => _line.IsOpen;

        private void Readable()
        {
            int n = _line.Read(_buffer);
            if (n > 0)
            {
                _receive(_buffer.AsSpan(0, n), _clock.Now());
            }
            else if (n < 0)
            {
                // The device went away: stop watching it; the driver opens it again when it is back.
                Dispose();
            }
        }

        public void Dispose()
        {
            if (_registered)
            {
                _registered = false;
                _loop.RemoveReader(_line.Handle);
            }

            _line.Dispose();
        }
    }
}
