package testdb
import ("testing";"context";"github.com/jackc/pgx/v5")
func TestBoth(t *testing.T){ u:=Postgres(t); c,err:=pgx.Connect(context.Background(),u); if err!=nil{t.Fatal(err)}; defer c.Close(context.Background()); if _,err:=c.Exec(context.Background(),"create table x(a int)");err!=nil{t.Fatal(err)}; r,p:=Redis(t); r.Set(context.Background(),p+"a","b",0)}
