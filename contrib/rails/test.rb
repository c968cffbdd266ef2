# Rails (Active Record) against counterfield: a migration up and down,
# associations, update_all, insert_all, has_many :through and transactions
# with ActiveRecord::Rollback, each counter compared with the association's
# own count.  Run by test/run check with Debian's ruby-activerecord and
# ruby-pg, against the throwaway cluster that PGHOST and PGPORT name.

require "active_record"
require "pg"

DATABASE = "counterfield_rails"

admin = PG.connect(dbname: "postgres")
admin.exec("SET client_min_messages = warning")
admin.exec("DROP DATABASE IF EXISTS #{DATABASE}")
admin.exec("CREATE DATABASE #{DATABASE}")

ActiveRecord::Base.establish_connection(
  adapter: "postgresql", database: DATABASE,
  host: ENV["PGHOST"], port: ENV["PGPORT"], username: ENV.fetch("PGUSER", "postgres"))
ActiveRecord::Migration.verbose = false

class CreateTables < ActiveRecord::Migration[6.1]
  def change
    enable_extension "counterfield"
    create_table :posts do |t|
      t.string :title
    end
    create_table :comments do |t|
      t.references :post, null: false, foreign_key: { on_delete: :cascade }
      t.boolean :approved, null: false, default: false
    end
    create_table :tags do |t|
      t.string :name
    end
    create_table :taggings do |t|
      t.references :post, null: false, foreign_key: { on_delete: :cascade }
      t.references :tag, null: false, foreign_key: { on_delete: :cascade }
    end
  end
end

# The migration the README shows: the column, then the counter.
class AddCounters < ActiveRecord::Migration[6.1]
  def up
    add_column :posts, :comments_count, :integer, null: false, default: 0
    add_column :posts, :approved_comments_count, :integer, null: false, default: 0
    add_column :tags, :posts_count, :integer, null: false, default: 0
    execute "SELECT counterfield.add_counter('posts', 'comments_count', 'comments')"
    execute "SELECT counterfield.add_counter('posts', 'approved_comments_count', 'comments',
                                             condition => 'approved', flush => 'transaction')"
    execute "SELECT counterfield.add_counter('tags', 'posts_count', 'taggings')"
  end

  def down
    execute "SELECT counterfield.drop_counter('tags', 'posts_count')"
    execute "SELECT counterfield.drop_counter('posts', 'approved_comments_count')"
    execute "SELECT counterfield.drop_counter('posts', 'comments_count')"
    remove_column :tags, :posts_count
    remove_column :posts, :approved_comments_count
    remove_column :posts, :comments_count
  end
end

class Post < ActiveRecord::Base
  has_many :comments
  has_many :taggings
  has_many :tags, through: :taggings
  attr_readonly :comments_count, :approved_comments_count
end

class Comment < ActiveRecord::Base
  belongs_to :post
end

class Tag < ActiveRecord::Base
  has_many :taggings
  has_many :posts, through: :taggings
  attr_readonly :posts_count
end

class Tagging < ActiveRecord::Base
  belongs_to :post
  belongs_to :tag
end

$checks = 0

def check(step)
  [Post, Comment, Tag, Tagging].each(&:reset_column_information)
  Post.find_each do |post|
    raise "#{step}: post #{post.id} comments_count" unless
      post.comments_count == post.comments.count
    raise "#{step}: post #{post.id} approved_comments_count" unless
      post.approved_comments_count == post.comments.where(approved: true).count
  end
  Tag.find_each do |tag|
    raise "#{step}: tag #{tag.id} posts_count" unless tag.posts_count == tag.posts.count
  end
  verify = ActiveRecord::Base.connection.select_value("SELECT count(*) FROM counterfield.verify()")
  raise "#{step}: verify reports #{verify}" unless verify.to_i.zero?
  $checks += 1
end

def counters
  ActiveRecord::Base.connection.select_value("SELECT count(*) FROM counterfield.counters").to_i
end

CreateTables.migrate(:up)
a = Post.create!(title: "a")
b = Post.create!(title: "b")
a.comments.create!
a.comments.create!(approved: true)
AddCounters.migrate(:up)
raise "counters: #{counters}" unless counters == 3
check("add_counter counts existing rows")

# Associations.
c = Post.create!(title: "c")
5.times { |i| c.comments.create!(approved: i.even?) }
b.comments.create!
check("create!")
c.comments.first.destroy
check("destroy")
Comment.where(post_id: c.id).update_all(post_id: b.id)
check("update_all moving rows")
Comment.where(approved: false).update_all(approved: true)
check("update_all flipping the condition")
Comment.insert_all([{ post_id: a.id, approved: true }, { post_id: c.id, approved: false }])
check("insert_all")
c.destroy
check("destroy of a parent, cascading")

# A stale copy saved by Active Record does not write the counter.
stale = Post.find(a.id)
a.comments.create!
stale.update!(title: "edited")
check("save of a stale copy")

# has_many :through.
ruby = Tag.create!(name: "ruby")
sql = Tag.create!(name: "sql")
a.tags << ruby << sql
b.tags << sql
check("has_many :through <<")
a.tags.destroy(sql)
check("has_many :through destroy")

# Transactions, with a nested one rolled back.
Post.transaction do
  a.comments.create!(approved: true)
  Post.transaction(requires_new: true) do
    b.comments.create!(approved: true)
    raise ActiveRecord::Rollback
  end
  b.comments.create!(approved: true)
end
check("transaction with a nested rollback")
Post.transaction do
  a.comments.create!(approved: true)
  raise ActiveRecord::Rollback
end
check("transaction rolled back")

# Rails' own counter helpers write the column: counterfield keeps its value.
Post.increment_counter(:comments_count, a.id)
Post.update_counters(b.id, comments_count: 5)
check("increment_counter and update_counters")

# Migration down and up again.
AddCounters.migrate(:down)
raise "counters: #{counters}" unless counters.zero?
AddCounters.migrate(:up)
check("migration down and up")

ActiveRecord::Base.remove_connection
admin.exec("DROP DATABASE #{DATABASE}")
puts "rails: #{$checks} checks passed"
