namespace Meridian.Protocol;

/// <summary>The two-bit leap indicator; <see cref="Unsynchronized"/> (3) also means "do not use my time".</summary>
public enum LeapIndicator : byte
{
    NoWarning = 0,
    AddSecond = 1,
    DeleteSecond = 2,
    Unsynchronized = 3,
}

/// <summary>Association modes (RFC 5905 figure 10).</summary>
public enum NtpMode : byte
{
    Reserved = 0,
    SymmetricActive = 1,
    SymmetricPassive = 2,
    Client = 3,
    Server = 4,
    Broadcast = 5,
    Control = 6,
    Private = 7,
}
