using System.Runtime.InteropServices;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// A reference clock device that could not be opened or set up, with the Linux errno; the message names the device
/// first ("/dev/gps0: No such file or directory"), as ntpd's log lines do, so the daemon can log it as it is.
/// </summary>
public sealed class RefclockDeviceException(int errno, string message) : IOException(message)
{
    public int Errno { get; } = errno;

    /// <summary>"<paramref name="subject"/>: [<paramref name="operation"/>: ]strerror(errno)" for the last call's errno.</summary>
    internal static RefclockDeviceException LastError(string subject, string? operation = null) =>
        FromErrno(Marshal.GetLastPInvokeError(), subject, operation);

    internal static RefclockDeviceException FromErrno(int errno, string subject, string? operation = null) =>
        new(errno, operation is null
            ? $"{subject}: {Libc.ErrorText(errno)}"
            : $"{subject}: {operation}: {Libc.ErrorText(errno)}");
}
